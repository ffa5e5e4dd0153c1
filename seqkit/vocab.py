"""The lecture's dictionary: tokens <-> integer indices.

Index 0.. ``len(specials)-1`` are the special tokens (``<unk>``, ``<eos>``,
``<pad>``, ... in the order given), then the corpus tokens from most to least
frequent, ties in order of first appearance, so the same corpus always gives
the same vocabulary. A token outside the vocabulary maps to ``<unk>``.

Sequences are iterables of tokens: lists of words for a word-level model, or
plain strings for a character-level one (a string iterates over its characters).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .backend import to_host
from .errors import SeqkitError

UNK = "<unk>"


class Vocabulary:
    """An ordered list of distinct tokens; ``unk`` (when it is one of them)
    is what unknown tokens map to, otherwise they are an error."""

    def __init__(self, tokens: Sequence[str], unk: str | None = UNK):
        self._tokens = list(tokens)
        self._index = {t: i for i, t in enumerate(self._tokens)}
        if len(self._index) != len(self._tokens):
            dupes = sorted({t for t in self._tokens if self._tokens.count(t) > 1})
            raise SeqkitError(f"vocabulary tokens must be distinct; repeated: {dupes[:5]}")
        self.unk = unk if unk in self._index else None
        self.unk_index = self._index[unk] if self.unk is not None else None

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], max_size: int | None = None,
              min_count: int = 1, specials: Sequence[str] = (UNK,)) -> Vocabulary:
        """The ``specials`` then the corpus tokens seen at least ``min_count``
        times, most frequent first, keeping ``len(vocab) <= max_size`` (the
        specials count towards ``max_size``)."""
        specials = list(specials)
        if max_size is not None and max_size < len(specials):
            raise SeqkitError(f"max_size {max_size} is smaller than the {len(specials)} "
                              "special tokens")
        if min_count < 1:
            raise SeqkitError(f"min_count must be >= 1, not {min_count!r}")
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        # Counter keeps first-appearance order and sorted() is stable: ties stay in that order
        ranked = sorted((t for t, n in counts.items() if n >= min_count and t not in specials),
                        key=lambda t: -counts[t])
        if max_size is not None:
            ranked = ranked[: max_size - len(specials)]
        return cls(specials + ranked, unk=UNK)

    # -- lookup ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token) -> bool:
        return token in self._index

    def __iter__(self):
        return iter(self._tokens)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens and self.unk == other.unk

    def __repr__(self) -> str:
        head = ", ".join(map(repr, self._tokens[:5]))
        return f"<Vocabulary {len(self)} tokens: {head}{', ...' if len(self) > 5 else ''}>"

    @property
    def tokens(self) -> list[str]:
        """All tokens in index order (a copy)."""
        return list(self._tokens)

    def index(self, token: str) -> int:
        """The index of ``token``; ``unk_index`` for an unknown one."""
        i = self._index.get(token, self.unk_index)
        if i is None:
            raise SeqkitError(f"token {token!r} is not in the vocabulary (which has no {UNK})")
        return i

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """``(len(tokens),)`` int64 indices."""
        return np.array([self.index(t) for t in tokens], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        """Tokens of a 1-D sequence of indices (a list, NumPy or CuPy array)."""
        ids = to_host(ids)  # ids sampled on a device come home first
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise SeqkitError(f"decode needs a 1-D sequence of integer ids, "
                              f"got shape {ids.shape} of {ids.dtype}")
        bad = ids[(ids < 0) | (ids >= len(self))]
        if bad.size:
            raise SeqkitError(f"id {int(bad[0])} is outside the vocabulary (size {len(self)})")
        return [self._tokens[i] for i in ids.tolist()]

    # -- I/O ---------------------------------------------------------------------
    def to_json(self) -> dict:
        """A JSON-able dict: ``{"tokens": [...], "unk": "<unk>" | None}``."""
        return {"tokens": list(self._tokens), "unk": self.unk}

    @classmethod
    def from_json(cls, d: dict) -> Vocabulary:
        tokens = d.get("tokens") if isinstance(d, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise SeqkitError("invalid vocabulary: expected {'tokens': [str, ...], 'unk': ...}")
        return cls(tokens, unk=d.get("unk"))
