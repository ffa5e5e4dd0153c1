"""Per-step gradient diagnostics while training, and backend parity."""
import json
import textwrap

import numpy as np
import pytest

from seqkit import Example, Kind, ModelSpec, SequenceModel
from seqkit.data import collate
from seqkit.diagnostics import GradientDiagnostics, heat_map, parity, per_step
from seqkit.optim import make_optimizer
from seqkit.run import Run
from seqkit.testing import run_seqkit
from seqkit.train import TrainConfig, forward_loss, train_epoch

NAMES = "\n".join(["aurasaurus", "brontosaurus", "ceratops", "diplodocus", "euoplocephalus",
                   "fukuiraptor", "gallimimus", "hadrosaurus", "iguanodon", "juravenator"] * 3)


def tiny_model(cell="rnn", layers=1):
    spec = ModelSpec(kind="one-to-many", n_in=6, n_y=6, cell=cell, hidden=5, layers=layers,
                     embed_dim=4)
    return SequenceModel(spec, dtype="float64", seed=0)


def examples(n=12, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ids = rng.integers(0, 6, size=3 + i % 5)
        out.append(Example(x=ids[:-1], y=ids[1:]))
    return out


def test_norms_are_those_of_what_backprop_passes_into_the_layer():
    model, exs = tiny_model(), examples(4)
    batch = collate(exs, Kind.ONE_TO_MANY)
    diag = GradientDiagnostics()
    with diag.watch(model):
        forward_loss(model, batch)
    record = diag.epoch()
    # the same batch by hand: dL/da<t> = dz<t> W_y (the Dense head's backward)
    model.zero_grad()
    z, _, _ = model.begin_update(batch)
    y, mask = model.targets(batch)
    _, dz, _ = model.head.loss(z, y, mask, batch.size)
    da = dz @ model.parts["head"].params["weight"]
    norms = np.linalg.norm(da, axis=2)                         # (T, B), zeros where padded
    valid = np.arange(len(norms))[:, None] < batch.lengths[None, :]
    expected = (norms * valid).sum(axis=1) / valid.sum(axis=1)
    np.testing.assert_allclose(per_step(record, "grad_da_norm"), expected, rtol=1e-5)
    np.testing.assert_array_equal(per_step(record, "grad_examples"), valid.sum(axis=1))
    assert np.all(per_step(record, "grad_dx_norm") > 0)
    # the wrapper is gone after the with block
    assert "begin_update" not in vars(model.parts["rnn"])


@pytest.mark.parametrize("clip_norm, clip_value, rate", [(1e-3, 1e-2, 1.0), (1e6, 1e-9, 0.0)])
def test_clipping_is_counted(clip_norm, clip_value, rate):
    """Every update clipped by the norm (entries then at most 1e-3, none above 1e-2),
    or none by the norm and every one by the value."""
    model = tiny_model("lstm", layers=2)
    config = TrainConfig(epochs=1, batch_size=4, clip_norm=clip_norm, clip_value=clip_value, lr=1e-2)
    optimizer = make_optimizer("adam", model.params(), config.lr)
    stats = train_epoch(model, optimizer, examples(), config, 0, show_progress=False,
                        diagnostics=GradientDiagnostics())
    assert stats["clip_norm_rate"] == rate
    assert stats["clip_value_rate"] == 1.0 - rate
    grid = heat_map([{"epoch": 1, **stats}, {"epoch": 2, **stats}])
    assert grid.shape == (6, 2) and np.all(np.isfinite(grid))


def test_train_diagnostics_plot_and_checkpoint(tmp_path):
    data = tmp_path / "names.txt"
    data.write_text(NAMES)
    out, png = tmp_path / "m.npz", tmp_path / "m.png"
    r = run_seqkit("train", "chars", "--data", data, "--out", out, "--epochs", "2", "--hidden", "8",
                   "--embed-dim", "4", "--cell", "rnn", "--diagnostics", "--plot", png, "-q")
    assert r.returncode == 0, r.stderr
    assert "clip_norm_rate" in r.stderr and "grad_da_norm" not in r.stderr
    assert png.stat().st_size > 0
    history = Run.load(str(out)).history.epochs            # the records survive a checkpoint
    assert len(history) == 2 and all(len(per_step(e)) == 15 for e in history)
    # and the checkpoint's gradient through time: ||dL<T_x>/da<t>||, t = 1..5
    r = run_seqkit("explain", "--checkpoint", out, "--data", data, "--steps", "5", "--json")
    assert r.returncode == 0, r.stderr
    curve = json.loads(r.stdout)[str(out)]
    assert curve["T_x"] == 5 and len(curve["norms"]) == 5 and min(curve["norms"]) > 0


def test_parity_skips_an_unavailable_backend_saying_why():
    result = parity(["numpy", "cupy"])
    assert result["reference"] == "numpy"
    if "cupy" in result["skipped"]:
        assert result["skipped"]["cupy"]                         # the import error, kept
    r = run_seqkit("parity", "--backends", "numpy,nosuch")
    assert r.returncode == 0 and "skipped nosuch: not installed" in r.stdout


def test_parity_finds_a_difference(tmp_path):
    """A second backend, 'twin': the NumPy kernels, except that its LSTM outputs are
    off by 1e-6. parity must report exactly that."""
    (tmp_path / "seqkit_twin.py").write_text(textwrap.dedent("""
        import dataclasses
        from seqkit import hookimpl
        from seqkit_numpy import CELLS, NumpyBackend

        class Twin(NumpyBackend):
            name = "twin"

        def shifted(forward):
            def run(*args, **kw):
                a, state, cache = forward(*args, **kw)
                return a + 1e-6, state, cache
            return run

        @hookimpl
        def register_backends(register):
            register(Twin)

        @hookimpl
        def register_cells(register):
            for c in CELLS:
                register(dataclasses.replace(c, backend="twin", forward=shifted(c.forward)
                                             if c.name == "lstm" else c.forward))
    """))
    info = tmp_path / "seqkit_twin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqkit-twin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[seqkit]\ntwin = seqkit_twin\n")
    r = run_seqkit("parity", "--backends", "numpy,twin", pythonpath=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith(("lstm", "gru", "rnn"))]
    assert rows and all(row[1] == "twin" for row in rows)
    for cell, _, quantity, max_abs, _ in rows:
        expected = 1e-6 if (cell, quantity) == ("lstm", "y") else 0.0
        assert float(max_abs) == pytest.approx(expected, abs=1e-12), (cell, quantity)
