"""Dense multi-hot frames in and out: a polyphonic toy plugin trains with the
sigmoid head, and ``seqkit generate`` writes frames drawn from it (Bernoulli
draws fed back as the next input), the same for the same seed."""
from __future__ import annotations

import numpy as np

from seqkit.testing import run_seqkit


def piece(rng, T=24, keys=6):
    """Key t mod 3 always sounds with key 3 + (t mod 3): a pattern worth learning."""
    start = rng.integers(0, 3)
    f = np.zeros((T, keys), dtype=int)
    for t in range(T):
        f[t, (start + t) % 3] = 1
        f[t, 3 + (start + t) % 3] = 1
    return f


def test_polyphonic_toy_trains_and_generates_reproducibly(tmp_path, install_fixture):
    rng = np.random.default_rng(0)
    data = tmp_path / "rolls.txt"
    data.write_text("\n".join("\n".join("".join(map(str, r)) for r in piece(rng)) + "\n"
                              for _ in range(40)))
    path = install_fixture("seqkit-polytoy", "seqkit_polytoy")
    out = tmp_path / "m.npz"
    r = run_seqkit("train", "polytoy", "--data", data, "--out", out, "-q", pythonpath=path)
    assert r.returncode == 0, r.stderr
    samples = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        r = run_seqkit("generate", out, "--length", "30", "--seed", seed, "--out",
                       tmp_path / f"{name}.txt", pythonpath=path)
        assert r.returncode == 0, r.stderr
        samples.append((tmp_path / f"{name}.txt").read_text())
    assert samples[0] == samples[1]
    frames = np.array([[int(c) for c in ln] for ln in samples[0].split()])
    assert frames.shape == (30, 6) and set(np.unique(frames)) <= {0, 1}
    # it learned the pattern: two keys per frame, one from each half, moving on by one
    assert (frames.sum(1) == 2).mean() > 0.8
    hits = [(np.argmax(a[:3]) + 1) % 3 == np.argmax(b[:3]) for a, b in zip(frames, frames[1:])]
    assert np.mean(hits) > 0.8
