"""Both tasks end to end through the CLI: train, evaluate, predict to P.npz (whose NLL
anyone can recompute), generate (same seed, same bytes; the primer opens the file;
--plot), and every bad input ending in one line."""
import gzip
import json

import mido
import numpy as np
import pytest
from seqkit_music.data import read_midi_source
from seqkit_music.midi import read_midi

FAST = ["--hidden", "12", "--epochs", "2", "--batch-size", "4", "-q"]


def ok(r):
    assert r.exit_code == 0, r.stderr
    return r


def one_line_error(r, *fragments):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def poly(tmp_path_factory, rolls_json, seqkit):
    out = tmp_path_factory.mktemp("poly") / "m.npz"
    ok(seqkit("train", "music-poly", "--data", rolls_json[0], "--out", out, "--transpose", "2", *FAST))
    return out


@pytest.fixture(scope="module")
def melody(tmp_path_factory, voices_json, seqkit):
    out = tmp_path_factory.mktemp("melody") / "m.npz"
    ok(seqkit("train", "music-melody", "--data", voices_json[0], "--out", out, "--embed-dim", "8",
              "--min-pitch", "48", "--max-pitch", "96", "--transpose", "3", "--steps-per-quarter", "4",
              *FAST))
    return out


def recomputed_nll(P, pieces):
    """The protocol, outside seqkit: -Σ_t Σ_k [v log p + (1-v) log(1-p)] / Σ T."""
    total, frames = 0.0, 0
    for i, piece in enumerate(pieces):
        p = P[f"piece_{i:04d}"]
        v = np.zeros_like(p)
        for t, notes in enumerate(piece):
            v[t, np.array(notes, dtype=int) - 21] = 1
        total -= np.where(v > 0, np.log(p), np.log1p(-p)).sum()
        frames += len(piece)
    return total / frames


def test_predict_npz_gives_evaluates_nll(poly, rolls_json, seqkit, tmp_path):
    path, data = rolls_json
    metrics = json.loads(ok(seqkit("evaluate", poly, "--data", path, "--split", "test", "--json")).stdout)
    assert metrics["nll"] == pytest.approx(metrics["loss"], rel=1e-5)
    ok(seqkit("predict", poly, "--input", path, "--split", "test", "--out", tmp_path / "P.npz"))
    with np.load(tmp_path / "P.npz") as P:
        assert sorted(P.files) == [f"piece_{i:04d}" for i in range(len(data["test"]))]
        assert all(P[f"piece_{i:04d}"].shape == (len(p), 88) and P[f"piece_{i:04d}"].dtype == np.float64
                   for i, p in enumerate(data["test"]))
        assert abs(recomputed_nll(P, data["test"]) - metrics["nll"]) < 1e-6
    # FILE:SPLIT says the same without the option; the test split is the default
    ok(seqkit("predict", poly, "--input", f"{path}:valid", "--out", tmp_path / "V.npz"))
    with np.load(tmp_path / "V.npz") as V:
        assert len(V.files) == len(data["valid"])
    lines = ok(seqkit("predict", poly, "--input", path)).stdout.splitlines()
    assert len(lines) == len(data["test"]) and lines[0].endswith("nats/step")


def test_generate_same_seed_same_bytes_and_length(poly, seqkit, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        ok(seqkit("generate", poly, "--length", "20", "--seed", seed, "--out", tmp_path / f"{name}.mid"))
    a, b, c = ((tmp_path / f"{n}.mid").read_bytes() for n in "abc")
    assert a == b and a != c
    score = read_midi(str(tmp_path / "a.mid"), 1)  # jsb-like JSON: one step per quarter
    assert score.n_steps == 20
    mid = mido.MidiFile(str(tmp_path / "a.mid"))
    assert mid.length == pytest.approx(20 * 60 / 100)  # 20 quarter notes at 100 bpm


def test_a_primer_opens_the_file_and_plot(poly, seqkit, tmp_path, midi_file):
    primer = midi_file(tmp_path / "primer.mid", [(60, 0, 1), (64, 0, 2), (67, 1, 3), (72, 3, 4)],
                       ticks_per_beat=120)
    ok(seqkit("generate", poly, "--primer", primer, "--length", "10", "--seed", "3", "-n", "2",
              "--out", tmp_path / "song.mid", "--plot", tmp_path / "roll.png"))
    given = read_midi_source(str(primer), 1).roll
    for name in ("song.mid", "song-2.mid"):
        song = read_midi_source(str(tmp_path / name), 1).roll
        assert len(song) == len(given) + 10
        np.testing.assert_array_equal(song[:len(given)], given)
        score = read_midi(str(tmp_path / name), 1)
        assert set(score.parts) <= {"primer", "generated"} and "primer" in score.parts
    png = (tmp_path / "roll.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 200_000


def test_melody_trains_evaluates_and_generates(melody, voices_json, seqkit, tmp_path, midi_file):
    metrics = json.loads(ok(seqkit("evaluate", melody, "--data", voices_json[0], "--json")).stdout)
    assert {"nll", "accuracy", "perplexity"} <= metrics.keys()
    assert metrics["nll"] == pytest.approx(metrics["loss"], rel=1e-5)
    primer = midi_file(tmp_path / "p.mid", [(72, 0, 0.5), (74, 0.5, 1)])
    for name in ("x", "y"):
        ok(seqkit("generate", melody, "--primer", primer, "--length", "16", "--seed", "5",
                  "--out", tmp_path / f"{name}.mid"))
    assert (tmp_path / "x.mid").read_bytes() == (tmp_path / "y.mid").read_bytes()
    score = read_midi(str(tmp_path / "x.mid"), 4)
    assert score.n_steps == 4 + 16
    assert score.notes[:2] == [(72, 0, 2), (74, 2, score.notes[1][2])]
    pitches = {n[0] for n in score.notes}
    assert len({n[1] for n in score.notes}) == len(score.notes)  # one note at a time
    assert min(pitches) >= 21 and max(pitches) <= 108


def test_bad_inputs_end_in_one_line(poly, melody, seqkit, tmp_path, midi_file):
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    one_line_error(seqkit("generate", poly, "--primer", corrupt, "--out", tmp_path / "o.mid"),
                   "corrupt.mid is not a readable MIDI file")
    empty = midi_file(tmp_path / "silence.mid", [])
    one_line_error(seqkit("generate", poly, "--primer", empty, "--out", tmp_path / "o.mid"),
                   "silence.mid holds no notes")
    high = midi_file(tmp_path / "high.mid", [(100, 0, 1)])
    one_line_error(seqkit("generate", melody, "--primer", high, "--out", tmp_path / "o.mid"),
                   "pitch 100 is out of the melody range")
    one_line_error(seqkit("generate", poly, "--out", tmp_path / "o.txt"), "writes MIDI files")
    data = tmp_path / "midis"
    data.mkdir()
    (data / "bad.mid").write_bytes(b"\x00" * 10)
    one_line_error(seqkit("train", "music-poly", "--data", data, "--out", tmp_path / "m.npz", "-q"),
                   "bad.mid is not a readable MIDI file")
    for content, message in (
            ([[60, 64]], "expected a JSON object with 'train', 'valid' and 'test'"),
            ({"train": [[60, 64]]}, "train piece 0 step 0: a time step must be a list"),
            ({"train": [[[60], [200]]]}, "train piece 0 step 1: pitch 200 is out of the piano's range"),
            ({"train": [[["C4"]]]}, "a pitch must be an integer MIDI note number"),
            ({"train": "pieces"}, "'train' must be a list of pieces")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(content))
        one_line_error(seqkit("train", "music-poly", "--data", bad, "--out", tmp_path / "m.npz", "-q"),
                       "bad.json", message)
    gz = tmp_path / "broken.json.gz"
    gz.write_bytes(gzip.compress(b"{not json")[:-4])
    one_line_error(seqkit("train", "music-poly", "--data", gz, "--out", tmp_path / "m.npz", "-q"),
                   "broken.json.gz")
    one_line_error(seqkit("predict", poly, "--input", data / "bad.mid"), "bad.mid")
    bad.write_text(json.dumps({"train": [[[60], [62]]]}))
    one_line_error(seqkit("predict", poly, "--input", f"{bad}:test"), "has no 'test' split")
