"""The entity scorer against seqeval (the Python port of conlleval) on hand-made
cases: IOB2, IOB1, IOBES, malformed spans, type changes, empty predictions."""
import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqkit_ner.metrics import chunks, entity_scores

CASES = {
    "exact": ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    "boundary wrong": ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]]),
    "type wrong": ([["B-ORG", "I-ORG", "O"]], [["B-LOC", "I-LOC", "O"]]),
    "I after O (malformed)": ([["O", "B-MISC", "I-MISC", "O"]], [["O", "I-MISC", "I-MISC", "O"]]),
    "type change inside": ([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-LOC", "I-PER"]]),
    "IOB1": ([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]], [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]]),
    "IOB1 both ways": ([["I-ORG", "O", "I-PER", "B-PER"], ["I-LOC"]],
                       [["I-ORG", "O", "I-PER", "I-PER"], ["B-LOC"]]),
    "IOBES": ([["B-PER", "E-PER", "O", "S-LOC", "S-LOC"]], [["B-PER", "E-PER", "O", "S-LOC", "O"]]),
    "IOBES malformed": ([["B-PER", "I-PER", "E-PER", "O"]], [["B-PER", "I-PER", "O", "E-PER"]]),
    "nothing predicted": ([["B-PER", "O"], ["O", "B-LOC"]], [["O", "O"], ["O", "O"]]),
    "nothing to find": ([["O", "O"]], [["B-PER", "O"]]),
    "across sentences": ([["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["I-PER", "O"]]),
    "many": ([["B-PER", "I-PER", "O", "B-ORG", "B-LOC", "I-LOC", "O", "B-MISC"],
              ["B-ORG", "I-ORG", "I-ORG", "O", "O", "B-PER"]],
             [["B-PER", "I-PER", "O", "B-ORG", "I-LOC", "I-LOC", "O", "O"],
              ["B-ORG", "I-ORG", "O", "O", "B-PER", "B-PER"]]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_micro_scores_equal_seqeval(name):
    gold, pred = CASES[name]
    ours = entity_scores(gold, pred)
    kw = {"zero_division": 0}
    assert ours["f1"] == pytest.approx(100 * f1_score(gold, pred, **kw), abs=1e-9)
    assert ours["precision"] == pytest.approx(100 * precision_score(gold, pred, **kw), abs=1e-9)
    assert ours["recall"] == pytest.approx(100 * recall_score(gold, pred, **kw), abs=1e-9)


def test_per_type_scores_equal_seqeval():
    gold, pred = CASES["many"]
    ref = classification_report(gold, pred, output_dict=True, zero_division=0)
    ours = entity_scores(gold, pred)
    for kind in ("PER", "ORG", "LOC", "MISC"):
        for key in ("precision", "recall", "f1"):
            name = "f1-score" if key == "f1" else key
            assert ours[f"{kind}_{key}"] == pytest.approx(100 * ref[kind][name], abs=1e-9), (kind, key)


def test_conlleval_chunk_rules():
    assert chunks(["B-PER", "I-PER", "O", "I-LOC", "I-ORG"]) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 5, "ORG")]
    assert chunks(["I-PER", "B-PER", "I-PER"]) == [(0, 1, "PER"), (1, 3, "PER")]  # IOB1
    assert chunks(["S-PER", "B-LOC", "E-LOC", "E-LOC"]) == [(0, 1, "PER"), (1, 3, "LOC"), (3, 4, "LOC")]
    assert chunks([]) == [] and chunks(["O"]) == []
