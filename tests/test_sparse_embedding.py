"""Row-sparse embedding gradients (seqkit.rows): a persistent gradient written and
zeroed on the touched rows only, clipping on those rows, and the lazy SparseAdam
checked against torch.optim.SparseAdam."""
import tracemalloc

import numpy as np
import pytest

from seqkit import Embedding, SeqkitError, rows
from seqkit.optim import Adam, SparseAdam, clip_grad_norm, make_optimizer


def _step(emb, ids, dy):
    y, backprop = emb.begin_update(np.asarray(ids))
    backprop(np.asarray(dy, dtype=y.dtype).reshape(y.shape))


def test_backward_writes_only_the_touched_rows_and_zero_grad_clears_them():
    emb = Embedding(10, 3, dtype="float64")
    _step(emb, [[1, 4], [1, 7]], np.arange(12.0))
    g = emb.grads()["weight"]
    assert g.shape == (10, 3) and rows.touched_rows(g).tolist() == [1, 4, 7]
    np.testing.assert_array_equal(g[1], [0 + 6, 1 + 7, 2 + 8])     # repeats accumulate
    np.testing.assert_array_equal(g[[0, 2, 3, 5, 6, 8, 9]], 0)
    _step(emb, [[2]], np.ones(3))                                  # a second backward adds
    assert rows.touched_rows(g).tolist() == [1, 2, 4, 7]
    emb.zero_grad()
    assert emb.grads()["weight"] is g                              # reused, not reallocated
    assert not g.any() and rows.touched_rows(g).size == 0


def test_a_step_allocates_no_vocabulary_sized_array():
    V, E = 20_000, 100
    emb = Embedding(V, E)
    ids = np.random.default_rng(0).integers(0, V, (25, 16))
    _step(emb, ids, np.ones(ids.size * E))  # the persistent buffer: allocated once
    emb.zero_grad()
    tracemalloc.start()
    try:
        for _ in range(3):
            _step(emb, ids, np.ones(ids.size * E))
            clip_grad_norm(emb.grads(), 1.0)
            emb.zero_grad()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < V * E * 4 / 10, f"peak {peak} bytes"


def test_marked_dense_is_zeroed_whole_and_has_no_rows():
    emb = Embedding(6, 2, dtype="float64")
    _step(emb, [[0]], np.ones(2))
    g = emb.grads()["weight"]
    g[5] = 3.0                       # an allreduce summed another process's row in
    rows.mark_dense(g)
    assert rows.touched_rows(g) is None and rows.is_row_sparse(g)
    emb.zero_grad()
    assert not g.any()
    _step(emb, [[2]], np.ones(2))
    assert rows.touched_rows(g).tolist() == [2]  # the mark lasts one step


def test_clip_on_touched_rows_equals_the_dense_clip():
    emb = Embedding(50, 4, dtype="float64")
    rng = np.random.default_rng(1)
    _step(emb, [[3, 9, 3, 40]], rng.standard_normal(16) * 10)
    sparse = emb.grads()
    dense = {"weight": sparse["weight"].copy()}
    assert clip_grad_norm(sparse, 1.0) == pytest.approx(clip_grad_norm(dense, 1.0), rel=1e-12)
    np.testing.assert_allclose(sparse["weight"], dense["weight"], rtol=1e-12)


def test_float32_norm_without_copies_is_accurate():
    g = {"w": np.random.default_rng(2).standard_normal((1000, 100)).astype(np.float32)}
    exact = float(np.sqrt(np.sum(g["w"].astype(np.float64) ** 2)))
    assert clip_grad_norm(g, 1e9) == pytest.approx(exact, rel=1e-6)


def test_sparse_adam_matches_torch_sparse_adam_and_leaves_untouched_rows():
    torch = pytest.importorskip("torch")
    V, E, steps = 30, 4, 6
    rng = np.random.default_rng(3)
    emb = Embedding(V, E, dtype="float64", seed=4)
    bias = {"b": rng.standard_normal(E)}
    temb = torch.nn.Embedding(V, E, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        temb.weight.copy_(torch.tensor(emb.params["weight"]))
    tb = torch.tensor(bias["b"], requires_grad=True)
    params = {"emb.weight": emb.params["weight"], "b": bias["b"]}
    opt = make_optimizer("sparse-adam", params, lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    t_sparse = torch.optim.SparseAdam(list(temb.parameters()), lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    t_dense = torch.optim.Adam([tb], lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    never = set(range(20, V))
    for _ in range(steps):
        ids = rng.integers(0, 20, (3, 2))
        dy = rng.standard_normal((3, 2, E))
        gb = rng.standard_normal(E)
        emb.zero_grad()
        _step(emb, ids, dy)
        opt.step({"emb.weight": emb.grads()["weight"], "b": gb})
        t_sparse.zero_grad(), t_dense.zero_grad()
        (temb(torch.tensor(ids)) * torch.tensor(dy)).sum().backward()
        tb.grad = torch.tensor(gb)
        t_sparse.step(), t_dense.step()
        np.testing.assert_allclose(emb.params["weight"], temb.weight.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(bias["b"], tb.detach().numpy(), atol=1e-10)
    rows_never = sorted(never)
    assert not opt.state["m"]["emb.weight"][rows_never].any()


def test_sparse_adam_without_row_hints_is_adam():
    rng = np.random.default_rng(5)
    p1 = {"w": rng.standard_normal((5, 3))}
    p2 = {"w": p1["w"].copy()}
    a, s = Adam(p1, lr=0.1), SparseAdam(p2, lr=0.1)
    for _ in range(3):
        g = rng.standard_normal((5, 3))
        a.step({"w": g}), s.step({"w": g})
    np.testing.assert_array_equal(p1["w"], p2["w"])


def test_sparse_adam_refuses_weight_decay():
    with pytest.raises(SeqkitError, match="no weight decay"):
        make_optimizer("sparse-adam", {"w": np.zeros(2)}, lr=0.1, weight_decay=0.1)


def test_model_grads_stay_dense_arrays_of_each_parameter_shape():
    from seqkit import Context, chain
    from seqkit.layers import Input
    emb = Embedding(12, 3, dtype="float64")
    body = chain(Input("x", dtype="float64"), emb)
    ctx = Context(lengths=np.array([2]), inputs={"x": np.array([[5], [6]])})
    y, backprop = body.begin_update(None, ctx)
    backprop(np.ones_like(y))
    g = emb.grads()["weight"]
    assert isinstance(g, np.ndarray) and g.shape == emb.params["weight"].shape
