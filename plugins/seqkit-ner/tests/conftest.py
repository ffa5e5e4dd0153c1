"""Made-up CoNLL data for the tests (no sentence of any real corpus): people,
places and companies in template sentences, in CoNLL-2003's four columns."""
import gzip
import random

import pytest

FIRST = ["Alice", "Bruno", "Chiara", "Dmitri", "Eamon", "Farah", "Goran", "Hilde", "Ivo", "Jana"]
LAST = ["Varga", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Quispe", "Novak", "Haddad"]
PLACES = [["Lisbon"], ["Ulan", "Bator"], ["Port", "Moresby"], ["Quito"], ["Tromso"], ["Nairobi"]]
ORGS = [["Zentex"], ["Blue", "Harbor", "Bank"], ["Korvo", "Motors"], ["Ostrava", "FC"]]
TEMPLATES = [
    "{PER} flew to {LOC} on Monday .",
    "{PER} , who works for {ORG} , lives in {LOC} .",
    "Shares of {ORG} rose 12 percent in {LOC} .",
    "{ORG} said {PER} will visit {LOC} in 1999 .",
    "the weather was mild .",
]


def sentence(rng):
    rows = []
    for piece in rng.choice(TEMPLATES).split():
        if piece in ("{PER}", "{LOC}", "{ORG}"):
            kind = piece[1:-1]
            words = ([rng.choice(FIRST), rng.choice(LAST)] if kind == "PER"
                     else rng.choice(PLACES if kind == "LOC" else ORGS))
            rows += [(w, f"{'B' if i == 0 else 'I'}-{kind}") for i, w in enumerate(words)]
        else:
            rows.append((piece, "O"))
    return rows


def conll_text(n, seed):
    rng = random.Random(seed)
    out = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(n):
        out += [f"{w} NN I-NP {t}" for w, t in sentence(rng)] + [""]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """A directory with train.txt (gzipped), dev.txt and test.txt."""
    d = tmp_path_factory.mktemp("toyner")
    with gzip.open(d / "train.txt.gz", "wt", encoding="utf-8") as f:
        f.write(conll_text(150, 1))
    (d / "dev.txt").write_text(conll_text(40, 2), encoding="utf-8")
    (d / "test.txt").write_text(conll_text(40, 3), encoding="utf-8")
    return d
