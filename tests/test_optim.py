import math

import numpy as np
import pytest

from seqkit.errors import SeqkitError
from seqkit.optim import (
    OPTIMIZERS,
    SGD,
    Adam,
    array_module,
    clip_grad_norm,
    clip_grad_value,
    decayed_lr,
    make_optimizer,
)

SHAPES = {"weight": (4, 3), "bias": (4,)}
CASES = [
    ("sgd", "SGD", {}),
    ("sgd", "SGD", {"momentum": 0.9, "weight_decay": 0.01}),
    ("sgd", "SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("sgd", "SGD", {"momentum": 0.5, "dampening": 0.3}),
    ("adagrad", "Adagrad", {"weight_decay": 0.01}),
    ("adagrad", "Adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("rmsprop", "RMSprop", {"weight_decay": 0.01}),
    ("rmsprop", "RMSprop", {"momentum": 0.9, "alpha": 0.9}),
    ("rmsprop", "RMSprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("adam", "Adam", {}),
    ("adam", "Adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01}),
]


def _problem(seed=0, steps=5):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("name,torch_name,kw", CASES)
def test_matches_torch_optim(name, torch_name, kw):
    torch = pytest.importorskip("torch")
    params, grads = _problem()
    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
               for k, v in params.items()}
    topt = getattr(torch.optim, torch_name)(list(tparams.values()), lr=0.05, foreach=False, **kw)
    held = dict(params)  # the same arrays, as a layer would hold them
    opt = make_optimizer(name, params, lr=0.05, **kw)
    for g in grads:
        given = {k: v.copy() for k, v in g.items()}
        opt.step(g)
        for k, t in tparams.items():
            t.grad = torch.tensor(g[k])
        topt.step()
        for k, t in tparams.items():
            np.testing.assert_allclose(held[k], t.detach().numpy(), rtol=0, atol=1e-6)
            np.testing.assert_array_equal(g[k], given[k])  # grads left as given
    assert opt.t == len(grads)


@pytest.mark.parametrize("name,_,kw", CASES)
def test_state_dict_round_trip_is_exact(name, _, kw):
    params, grads = _problem(seed=1)
    straight = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(name, straight, lr=0.05, **kw)
    for g in grads:
        opt.step(g)

    first_params = {k: v.copy() for k, v in params.items()}
    first = make_optimizer(name, first_params, lr=0.05, **kw)
    for g in grads[:3]:
        first.step(g)
    state = first.state_dict()  # saved with the parameters, as a checkpoint would
    saved_params = {k: v.copy() for k, v in first_params.items()}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state[f"{name}.step"].dtype == np.int64 and state[f"{name}.step"].shape == ()
    for g in grads[3:]:  # training on must not change the saved state (no aliasing)
        first.step(g)

    resumed = make_optimizer(name, saved_params, lr=0.05, **kw)
    resumed.load_state_dict(state)
    assert resumed.t == 3
    for g in grads[3:]:
        resumed.step(g)
    for k in straight:
        np.testing.assert_array_equal(saved_params[k], straight[k])
        np.testing.assert_array_equal(first_params[k], straight[k])


def test_load_state_dict_rejects_a_foreign_state():
    params, _ = _problem()
    with pytest.raises(SeqkitError, match="does not fit Adam"):
        Adam(params, lr=0.1).load_state_dict(SGD(params, lr=0.1, momentum=0.9).state_dict())


def test_updates_in_place_and_keeps_float32():
    p = {"w": np.ones(3, dtype=np.float32)}
    w = p["w"]
    opt = Adam(p, lr=0.1)
    opt.step({"w": np.full(3, 2.0, dtype=np.float32)})
    assert opt.params["w"] is w and w.dtype == np.float32
    assert np.all(w < 1)


def test_lr_is_settable():
    p = {"w": np.zeros(2)}
    opt = SGD(p, lr=1.0)
    opt.lr = decayed_lr(1.0, 2, 0.5)
    opt.step({"w": np.ones(2)})
    np.testing.assert_array_equal(p["w"], [-0.25, -0.25])


def test_user_mistakes():
    p = {"w": np.zeros(2)}
    with pytest.raises(SeqkitError, match="sgd, adagrad, rmsprop, adam"):
        make_optimizer("adamw", p, lr=0.1)
    with pytest.raises(SeqkitError, match="momentum"):
        make_optimizer("adam", p, lr=0.1, momentum=0.9)
    with pytest.raises(SeqkitError, match="missing w, unexpected none"):
        SGD(p, lr=0.1).step({})
    with pytest.raises(SeqkitError, match="shape"):
        SGD(p, lr=0.1).step({"w": np.zeros(3)})
    with pytest.raises(SeqkitError):
        SGD({}, lr=0.1)
    assert set(OPTIMIZERS) == {"sgd", "adagrad", "rmsprop", "adam", "sparse-adam"}


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    _, (g, *_) = _problem()
    tparams = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True)
               for v in g.values()]
    for t, v in zip(tparams, g.values(), strict=True):
        t.grad = torch.tensor(v)
    norm = clip_grad_norm(g, 1.0)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, 1.0, foreach=False)
    assert norm > 1 and norm == pytest.approx(float(tnorm), rel=1e-12)
    for a, t in zip(g.values(), tparams, strict=True):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    total = math.sqrt(sum(float(np.sum(v * v)) for v in g.values()))
    assert total == pytest.approx(1.0, abs=1e-6)
    assert g["b"].shape == (1, 1)
    small = {"a": np.array([0.1, -0.2])}
    before = small["a"].copy()
    assert clip_grad_norm(small, 1.0) == pytest.approx(math.sqrt(0.05))
    np.testing.assert_array_equal(small["a"], before)  # below max_norm: untouched


def test_clip_grad_norm_large_float32_does_not_overflow():
    # 1e20 squared overflows float32: a naive norm is inf and scaling zeroes every gradient
    g = {"a": np.full(4, 1e20, dtype=np.float32)}
    norm = clip_grad_norm(g, 5.0)
    assert norm == pytest.approx(2e20, rel=1e-6)
    np.testing.assert_allclose(g["a"], np.full(4, 2.5, dtype=np.float32), rtol=1e-5)
    assert g["a"].dtype == np.float32


def test_clip_grad_norm_nonfinite_is_reported_not_hidden():
    g = {"a": np.array([np.inf, 1.0])}
    assert math.isinf(clip_grad_norm(g, 1.0))
    np.testing.assert_array_equal(g["a"], [np.inf, 1.0])


def test_clip_grad_value():
    g = {"a": np.array([-7.0, -5.0, 0.5, 5.0, 9.0]), "b": np.array([[6.0]], dtype=np.float32)}
    b = g["b"]
    clip_grad_value(g, 5)
    np.testing.assert_array_equal(g["a"], [-5, -5, 0.5, 5, 5])
    assert g["b"] is b and b[0, 0] == 5 and b.dtype == np.float32
    with pytest.raises(SeqkitError):
        clip_grad_value(g, 0)


def test_decayed_lr():
    assert decayed_lr(0.1, 0, 0.9) == 0.1
    assert decayed_lr(0.1, 3, 0.5) == pytest.approx(0.0125)
    with pytest.raises(SeqkitError):
        decayed_lr(0.1, 1, 0.0)


def test_array_module_is_numpy_for_numpy():
    assert array_module(np.zeros(1)) is np
