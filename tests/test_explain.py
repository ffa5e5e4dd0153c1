"""`seqkit explain`: every gradient it prints against float64 finite differences,
its per-step pieces against the fused kernels, and the command's output."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from seqkit.cli import cli
from seqkit.explain import Steps, build, explain, last_step_gradients, step_losses, tiny_example
from seqkit.losses import softmax_cross_entropy
from seqkit.testing import gradcheck

CELLS = ["rnn", "gru", "lstm"]
SEED, STEPS, HIDDEN, VOCAB = 3, 4, 3, 4


def total_loss(layer, head, x, y):
    """L = Σ_t L<t> through the fused kernels (layer.forward), the reference."""
    a, _ = layer.forward(x)
    z = head.forward(a)
    return softmax_cross_entropy(z, y[:, None], np.ones((len(y), 1)), 1, np, "sum")[0]


@pytest.mark.parametrize("cell", CELLS)
def test_summed_gradients_match_finite_differences(cell):
    report = explain(cell, steps=STEPS, hidden=HIDDEN, vocab=VOCAB, seed=SEED)
    layer, head = build(cell, VOCAB, HIDDEN, SEED)
    x, y = tiny_example(STEPS, VOCAB, SEED)
    assert report["loss"] == pytest.approx(total_loss(layer, head, x, y), abs=1e-12)
    g = {k: np.array(v) for k, v in report["gradients"].items()}
    n_a = HIDDEN
    analytic = {"rnn.weight_hh_l0": g["dW_a"][:, :n_a], "rnn.weight_ih_l0": g["dW_a"][:, n_a:],
                "rnn.bias_ih_l0": g["db_a"], "rnn.bias_hh_l0": g.get("db_hh", g["db_a"]),
                "head.weight": g["dW_y"], "head.bias": g["db_y"]}
    wrt = {f"rnn.{k}": v for k, v in layer.params.items()}
    wrt.update({f"head.{k}": v for k, v in head.params.items()})
    errors = gradcheck(lambda: total_loss(layer, head, x, y), wrt, analytic, max_entries=None)
    assert max(errors.values()) < 1e-7, errors
    # the sum of what each step adds is the fused kernel's BPTT
    layer.zero_grad()
    a, _ = layer.forward(x)
    _, dz, _ = softmax_cross_entropy(head.forward(a), y[:, None], np.ones((STEPS, 1)), 1, np, "sum")
    layer.backward(head.backward(dz))
    np.testing.assert_allclose(layer.grads()["weight_hh_l0"], analytic["rnn.weight_hh_l0"], atol=1e-12)
    np.testing.assert_allclose(layer.d_state0[0][0] if cell == "lstm" else layer.d_state0[0],
                               [g["da0"]], atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_dL_da_of_every_step_matches_finite_differences(cell):
    """dL/da<t> (and dL/dc<t>) as printed: perturb the state after step t and rerun
    the rest of the sequence from it."""
    report = explain(cell, steps=STEPS, hidden=HIDDEN, vocab=VOCAB, seed=SEED)
    layer, head = build(cell, VOCAB, HIDDEN, SEED)
    x, y = tiny_example(STEPS, VOCAB, SEED)
    full = Steps(layer)
    full.forward(x)
    for row in report["bptt"]:
        t = row["t"]                                  # 1-based: the state after step t
        state = [np.array(s, copy=True) for s in full.states[t - 1]]

        def loss_from_here(t=t, state=state):
            # L<t> reads a<t>; steps t+1.. start from (a<t>, c<t>)
            loss = step_losses(head, state[0][None], y[t - 1:t])[0][1]
            if t < STEPS:
                rest = Steps(layer)
                a = rest.forward(x[t:], tuple(state))
                loss += sum(r[1] for r in step_losses(head, a, y[t:]))
            return loss

        wrt = {"a": state[0]} | ({"c": state[1]} if len(state) > 1 else {})
        analytic = {"a": np.array([row["da"]])} | ({"c": np.array([row["dc"]])} if "dc" in row else {})
        errors = gradcheck(loss_from_here, wrt, analytic, max_entries=None)
        assert max(errors.values()) < 1e-7, (t, errors)


def test_lstm_steps_print_every_quantity_with_its_shape():
    result = CliRunner().invoke(cli, ["explain", "--cell", "lstm", "--steps", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    for symbol in ["x<1>", "Γ_f<1>", "Γ_u<2>", "c̃<3>", "Γ_o<1>", "c<3>", "a<3>", "ŷ<2>", "L<3>",
                   "L = Σ_t L<t>", "dL/da<3>", "dL/dc<1> from t+1", "dW_a", "db_a", "dW_y", "dL/da<0>"]:
        assert symbol in out, symbol
    assert "(8, 6)" in out and "(4, 2)" in out


def test_json_for_notebooks_and_gates_of_the_lecture():
    result = CliRunner().invoke(cli, ["explain", "--cell", "gru", "--steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    step = report["forward"][0]
    assert {"gamma_r", "gamma_u", "c_tilde", "a", "y_hat", "loss"} <= set(step)
    # a GRU step is a<t> = Γ_u c~<t> + (1 - Γ_u) a<t-1>, here with a<0> = 0
    np.testing.assert_allclose(step["a"], np.multiply(step["gamma_u"], step["c_tilde"]), atol=1e-12)
    assert len(report["bptt"]) == 2 and report["bptt"][0]["t"] == 2


def test_lstm_gates_are_the_lectures():
    """c<t> = Γ_f c<t-1> + Γ_u c̃<t>, a<t> = Γ_o tanh(c<t>); the gates are sigmoids in
    (0, 1) and c̃ a tanh that goes negative here, so no two blocks can be swapped."""
    report = explain("lstm", steps=3, seed=0)
    c_prev = np.zeros(2)
    for step in report["forward"]:
        g = {k: np.array(step[k]) for k in ("gamma_f", "gamma_u", "c_tilde", "gamma_o", "c", "a")}
        np.testing.assert_allclose(g["c"], g["gamma_f"] * c_prev + g["gamma_u"] * g["c_tilde"], atol=1e-12)
        np.testing.assert_allclose(g["a"], g["gamma_o"] * np.tanh(g["c"]), atol=1e-12)
        assert all(0 < v.min() and v.max() < 1 for k, v in g.items() if k.startswith("gamma"))
        c_prev = g["c"]
    assert min(min(s["c_tilde"]) for s in report["forward"]) < 0


def test_vanishing_gradient_measure_matches_explain():
    layer, head = build("rnn", VOCAB, HIDDEN, SEED)
    x, y = tiny_example(STEPS, VOCAB, SEED)
    norms = last_step_gradients(layer, head, x, y[-1:])
    assert norms.shape == (STEPS,) and np.all(norms > 0)
    # the last step's loss alone: its gradient at a<T> is W_y^T dz<T>
    report = explain("rnn", steps=STEPS, hidden=HIDDEN, vocab=VOCAB, seed=SEED)
    dz = np.array(report["bptt"][0]["dz"])
    W_y = np.array(report["parameters"]["W_y"])
    assert norms[-1] == pytest.approx(np.linalg.norm(W_y.T @ dz))


def test_user_mistakes_are_one_line():
    result = CliRunner().invoke(cli, ["explain", "--cell", "lstm", "--steps", "0"])
    assert result.exit_code != 0
