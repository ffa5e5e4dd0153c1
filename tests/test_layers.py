"""Layers: every gradient against finite differences on every backend, and
outputs, states and gradients against PyTorch given the same state_dict."""
import numpy as np
import pytest

from seqkit import GRU, LSTM, RNN, Dense, Dropout, Embedding, SeqkitError
from seqkit.testing import backend_params, check_recurrent, gradcheck, lengths_for, recurrent_cases

BACKENDS = backend_params()
CLASSES = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", recurrent_cases(), ids=str)
def test_recurrent_gradients(backend, case):
    errors = check_recurrent(case, backend=backend)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_and_dense_gradients(backend):
    emb = Embedding(7, 3, backend=backend, dtype="float64", seed=1)
    dense = Dense(3, 5, backend=backend, dtype="float64", seed=2)
    xp = emb.xp
    ids = xp.asarray(np.array([[1, 2], [2, 6], [1, 1]]))  # repeats must accumulate
    R = xp.asarray(np.random.default_rng(0).standard_normal((3, 2, 5)))

    def loss():
        return float(xp.sum(dense.forward(emb.forward(ids)) * R))

    loss()
    emb.backward(dense.backward(R))
    wrt = {"emb.weight": emb.params["weight"], **{f"dense.{k}": v for k, v in dense.params.items()}}
    grads = {"emb.weight": emb.grads()["weight"],
             **{f"dense.{k}": v for k, v in dense.grads().items()}}
    errors = gradcheck(loss, wrt, grads, max_entries=None)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("num_layers", [2, 3])
def test_dropout_with_fixed_mask_gradient(backend, num_layers):
    layer = LSTM(3, 4, num_layers=num_layers, dropout=0.5, backend=backend, dtype="float64", seed=3)
    xp = layer.xp
    x = xp.asarray(np.random.default_rng(0).standard_normal((4, 2, 3)))
    R = xp.asarray(np.random.default_rng(1).standard_normal((4, 2, 4)))

    def loss():
        layer.dropout.seed(7)  # the same mask on every evaluation
        return float(xp.sum(layer.forward(x)[0] * R))

    loss()
    y_train = layer.forward(x)[0]
    layer.eval()
    assert not np.allclose(layer.backend.to_numpy(y_train), layer.backend.to_numpy(layer.forward(x)[0]))
    layer.train()
    loss()
    layer.zero_grad()
    layer.backward(R)
    errors = gradcheck(loss, layer.params, layer.grads())
    assert max(errors.values()) < 1e-6, errors
    layer.eval()
    y1, _ = layer.forward(x)
    y2, _ = layer.forward(x)
    assert xp.array_equal(y1, y2)  # no dropout at evaluation


def test_padded_steps_are_zero_and_state_is_last_valid_step():
    layer = GRU(3, 4, bidirectional=True, dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 3))
    lengths = np.array([6, 2, 4])
    y, h_n = layer.forward(x, lengths)
    assert np.all(y[2:, 1] == 0) and np.all(y[4:, 2] == 0)
    # each example alone, unpadded, gives the same outputs and final states
    for b, L in enumerate(lengths):
        y_b, h_b = layer.forward(x[:L, b:b + 1])
        np.testing.assert_allclose(y[:L, b:b + 1], y_b, atol=1e-12)
        np.testing.assert_allclose(h_n[:, b:b + 1], h_b, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype):
    layer = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=dtype)
    y, (h, c) = layer.forward(np.ones((5, 2, 3)))
    dx = layer.backward(np.ones_like(y))
    assert {y.dtype, h.dtype, c.dtype, dx.dtype} == {np.dtype(dtype)}
    assert {g.dtype for g in layer.grads().values()} == {np.dtype(dtype)}


def test_state_dict_round_trip_and_errors():
    a, b = RNN(3, 4, num_layers=2, seed=1), RNN(3, 4, num_layers=2, seed=2)
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    np.testing.assert_array_equal(a.forward(x)[0], b.forward(x)[0])
    with pytest.raises(SeqkitError, match="missing"):
        b.load_state_dict({})
    bad = a.state_dict()
    bad["weight_hh_l0"] = np.zeros((2, 2))
    with pytest.raises(SeqkitError, match="shape"):
        b.load_state_dict(bad)
    with pytest.raises(SeqkitError, match=r"x must be \(T, B, 3\)"):
        a.forward(np.zeros((5, 2, 4)))
    with pytest.raises(SeqkitError, match="lengths"):
        a.forward(x, lengths=np.array([6, 1]))


def test_weight_a_is_the_lectures_stacked_matrix():
    layer = RNN(3, 4, dtype="float64")
    W_a, b_a = layer.weight_a()
    x = np.random.default_rng(0).standard_normal((2, 1, 3))
    y, _ = layer.forward(x)
    a1 = np.tanh(W_a @ np.concatenate([np.zeros(4), x[0, 0]]) + b_a)
    a2 = np.tanh(W_a @ np.concatenate([a1, x[1, 0]]) + b_a)
    np.testing.assert_allclose(y[:, 0], [a1, a2], atol=1e-12)


# -- PyTorch, given the same state_dict -----------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell,nonlinearity", [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"),
                                                ("lstm", "tanh")])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_matches_pytorch(backend, cell, nonlinearity, bidirectional, num_layers):
    torch = pytest.importorskip("torch")
    T, B, n_x, n_a = 6, 4, 3, 5
    kwargs = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    ours = CLASSES[cell](n_x, n_a, num_layers=num_layers, bidirectional=bidirectional,
                         backend=backend, dtype="float64", seed=4, **kwargs)
    ref = getattr(torch.nn, cell.upper())(n_x, n_a, num_layers=num_layers,
                                         bidirectional=bidirectional, **kwargs).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, B, n_x))
    lengths = lengths_for("one", T, B)
    D = 2 if bidirectional else 1
    h0 = [rng.standard_normal((num_layers * D, B, n_a)) for _ in range(2 if cell == "lstm" else 1)]
    dy = rng.standard_normal((T, B, D * n_a)) * (np.arange(T)[:, None] < lengths)[..., None]
    dh = [rng.standard_normal(h.shape) for h in h0]

    y, state = ours.forward(x, lengths, tuple(h0) if cell == "lstm" else h0[0])
    state = state if cell == "lstm" else (state,)
    dx = ours.backward(dy, tuple(dh) if cell == "lstm" else dh[0])
    d0 = ours.d_state0 if cell == "lstm" else (ours.d_state0,)
    to = ours.backend.to_numpy

    xt = torch.tensor(x, requires_grad=True)
    h0t = [torch.tensor(h, requires_grad=True) for h in h0]
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
    out, st = ref(packed, tuple(h0t) if cell == "lstm" else h0t[0])
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    st = st if cell == "lstm" else (st,)
    (yt * torch.tensor(dy)).sum().add(sum((s * torch.tensor(g)).sum() for s, g in zip(st, dh))).backward()

    np.testing.assert_allclose(to(y), yt.detach().numpy(), atol=1e-10)
    for s, s_ref in zip(state, st):
        np.testing.assert_allclose(to(s), s_ref.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(to(dx), xt.grad.numpy(), atol=1e-10)
    for g, h in zip(d0, h0t):
        np.testing.assert_allclose(to(g), h.grad.numpy(), atol=1e-10)
    for name, g in ours.grads().items():
        np.testing.assert_allclose(to(g), dict(ref.named_parameters())[name].grad.numpy(),
                                   atol=1e-10, err_msg=name)


def test_dropout_rejects_bad_probability():
    with pytest.raises(SeqkitError):
        Dropout(1.0)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_inference_in_windows_equals_the_training_forward(cell, bidirectional, monkeypatch):
    """predict() sweeps windows of steps carrying the state (nothing kept for BPTT):
    outputs and final states equal the one-sweep training forward, ragged lengths
    and a given initial state included."""
    from seqkit.layers import Context, Recurrent, recurrent

    monkeypatch.setattr(recurrent, "INFERENCE_WINDOW", 3)
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=bidirectional, dtype="float64", seed=2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3, 3))
    lengths = np.array([10, 4, 7])
    D = 2 if bidirectional else 1
    h0 = tuple(rng.standard_normal((2 * D, 3, 4)) for _ in range(layer.cell_type.n_states))
    train_ctx = Context(lengths=lengths, training=True, state0={layer: h0})
    y, _ = layer.begin_update(x, train_ctx)
    infer_ctx = Context(lengths=lengths, training=False, state0={layer: h0})
    np.testing.assert_allclose(layer.predict(x, infer_ctx), y, atol=1e-12)
    for a, b in zip(infer_ctx.state_n[layer], train_ctx.state_n[layer]):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_one_layer_runs_two_forwards_before_their_backwards():
    """Caches live in the backprop closures: two forwards of one layer, then both
    backwards, give the gradients of both uses (they were overwritten before)."""
    from seqkit.layers import Context

    layer = GRU(3, 4, dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((5, 2, 3)), rng.standard_normal((4, 2, 3))
    y1, bp1 = layer.begin_update(x1, Context())
    y2, bp2 = layer.begin_update(x2, Context())
    layer.zero_grad()
    bp1(np.ones_like(y1))
    bp2(np.ones_like(y2))
    both = layer.grads()["weight_hh_l0"].copy()
    single = []
    for x in (x1, x2):
        layer.zero_grad()
        y, bp = layer.begin_update(x, Context())
        bp(np.ones_like(y))
        single.append(layer.grads()["weight_hh_l0"].copy())
    np.testing.assert_allclose(both, single[0] + single[1], atol=1e-12)
