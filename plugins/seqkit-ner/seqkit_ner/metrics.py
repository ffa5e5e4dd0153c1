"""Entity-level precision, recall and F1 with the semantics of CoNLL's ``conlleval``.

A chunk (entity) is found by conlleval's rules, token by token, from the
previous tag and the current one, so any tag sequence is scored, malformed
ones included (an ``I-X`` after ``O`` starts a chunk, as in IOB1; a type change
inside a chunk ends it and starts another). ``E-`` and ``S-`` (IOBES) end a
chunk and make a one-token chunk, as seqeval's port of conlleval reads them.
A chunk is correct when the gold chunk starts and ends at the same tokens with
the same type. Each sentence ends with a boundary, so no chunk spans two.

    precision = 100 * correct / predicted chunks,  recall = 100 * correct / gold chunks
    F1 = 2 P R / (P + R)          (0 when P + R = 0), per type and micro-averaged
"""
from __future__ import annotations


def _parse(tag: str):
    if tag in ("O", ""):
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep:          # a bare "B" or "PER": conlleval reads it as a prefix with no type
        return tag[:1], ""
    return prefix, kind


def end_of_chunk(prev_tag, tag, prev_type, type_) -> bool:
    """Whether a chunk ended just before the current token."""
    return (prev_tag in ("E", "S")
            or (prev_tag == "B" and tag in ("B", "S", "O"))
            or (prev_tag == "I" and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def start_of_chunk(prev_tag, tag, prev_type, type_) -> bool:
    """Whether a chunk starts at the current token."""
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def chunks(tags: list[str]) -> list[tuple[int, int, str]]:
    """The chunks (start, end exclusive, type) conlleval reads in one sentence."""
    out, start = [], None
    prev_tag, prev_type = "O", ""
    for i, tag in enumerate([*tags, "O"]):
        p, t = _parse(tag)
        if start is not None and end_of_chunk(prev_tag, p, prev_type, t):
            out.append((start, i, prev_type))
            start = None
        if start_of_chunk(prev_tag, p, prev_type, t):
            start = i
        prev_tag, prev_type = p, t
    return out


def count(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Per type: [correct, predicted, gold] chunk counts over all sentences."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred):
        if len(g) != len(p):
            raise ValueError(f"a sentence has {len(g)} gold tags but {len(p)} predicted ones")
        gs, ps = set(chunks(g)), set(chunks(p))
        for c in gs | ps:
            row = counts.setdefault(c[2], [0, 0, 0])
            row[0] += c in gs and c in ps
            row[1] += c in ps
            row[2] += c in gs
    return counts


def prf(correct: int, predicted: int, found: int) -> tuple[float, float, float]:
    precision = 100.0 * correct / predicted if predicted else 0.0
    recall = 100.0 * correct / found if found else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` (micro, percent) and ``TYPE_precision``,
    ``TYPE_recall``, ``TYPE_f1`` for every type in gold or predictions."""
    counts = count(gold, pred)
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    out = dict(zip(("precision", "recall", "f1"), prf(*total)))
    for kind in sorted(counts):
        for name, value in zip(("precision", "recall", "f1"), prf(*counts[kind])):
            out[f"{kind}_{name}"] = value
    return out
