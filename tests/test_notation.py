"""The course's notebook ("Building your Recurrent Neural Network - Step by Step"),
reproduced through seqkit.notation and seqkit's own layers and kernels.

Each test draws its inputs exactly as the notebook's test cell does
(np.random.seed(1), then np.random.randn in the notebook's order; note that the
backward tests draw Wax before Waa, the forward ones Waa before Wax) and checks
the notebook's published "Expected Output" numbers to 1e-7. Only those numbers
and the drawing order come from the notebook."""
import numpy as np
import pytest

from seqkit import SeqkitError
from seqkit.losses import probabilities
from seqkit.notation import (
    course_layers,
    from_course,
    from_weight_a,
    to_course,
    to_course_layout,
    to_time_major,
    weight_a,
)

TOL = 1e-7
randn = np.random.randn


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOL)


def rnn_params(order=("Waa", "Wax")):
    shapes = {"Waa": (5, 5), "Wax": (5, 3)}
    p = {k: randn(*shapes[k]) for k in order}
    p["Wya"], p["ba"], p["by"] = randn(2, 5), randn(5, 1), randn(2, 1)
    return p


def lstm_params(head=True):
    p = {}
    for gate in "fioc":  # the notebook's order: forget, update, output, candidate
        p[f"W{gate}"], p[f"b{gate}"] = randn(5, 5 + 3), randn(5, 1)
    if head:
        p["Wy"], p["by"] = randn(2, 5), randn(2, 1)
    else:  # lstm_backward's test: unused by the backward, zeros
        p["Wy"], p["by"] = np.zeros((2, 5)), np.zeros((2, 1))
    return p


def y_hat(head, a):
    """ŷ<t> = softmax(W_ya a<t> + b_y): seqkit's Dense and the softmax head's probabilities."""
    return to_course_layout(probabilities(head.forward(a), "softmax"))


def test_rnn_cell_forward():
    np.random.seed(1)
    xt, a_prev = randn(3, 10), randn(5, 10)
    rnn, head = course_layers(rnn_params())
    # one cell step is a sequence of T_x = 1: x<t> (n_x, m) -> (1, m, n_x)
    a, _ = rnn.forward(to_time_major(xt[:, :, None]), h0=to_time_major(a_prev)[None])
    close(to_course_layout(a)[4, :, 0], [0.59584544, 0.18141802, 0.61311866, 0.99808218,
                                         0.85016201, 0.99980978, -0.18887155, 0.99815551,
                                         0.6531151, 0.82872037])
    close(y_hat(head, a)[1, :, 0], [0.9888161, 0.01682021, 0.21140899, 0.36817467, 0.98988387,
                                    0.88945212, 0.36920224, 0.9966312, 0.9982559, 0.17746526])


def test_rnn_forward():
    np.random.seed(1)
    x, a0 = randn(3, 10, 4), randn(5, 10)
    rnn, head = course_layers(rnn_params())
    a, _ = rnn.forward(to_time_major(x), h0=to_time_major(a0)[None])
    a_course = to_course_layout(a)
    assert a_course.shape == (5, 10, 4)
    close(a_course[4][1], [-0.99999375, 0.77911235, -0.99861469, -0.99833267])
    close(y_hat(head, a)[1][3], [0.79560373, 0.86224861, 0.11118257, 0.81515947])
    # caches[1] is x itself: the layout round trip keeps it
    close(to_course_layout(to_time_major(x))[1][3], [-1.1425182, -0.34934272, -0.20889423, 0.58662319])


def test_lstm_cell_forward():
    np.random.seed(1)
    xt, a_prev, c_prev = randn(3, 10), randn(5, 10), randn(5, 10)
    lstm, head = course_layers(lstm_params())
    h0 = (to_time_major(a_prev)[None], to_time_major(c_prev)[None])
    a, (_, c_n) = lstm.forward(to_time_major(xt[:, :, None]), h0=h0)
    close(to_course_layout(a)[4, :, 0], [-0.66408471, 0.0036921, 0.02088357, 0.22834167,
                                         -0.85575339, 0.00138482, 0.76566531, 0.34631421,
                                         -0.00215674, 0.43827275])
    c_next = to_course_layout(c_n[0])
    close(c_next[2], [0.63267805, 1.00570849, 0.35504474, 0.20690913, -1.64566718, 0.11832942,
                      0.76449811, -0.0981561, -0.74348425, -0.26810932])
    close(y_hat(head, a)[1, :, 0], [0.79913913, 0.15986619, 0.22412122, 0.15606108, 0.97057211,
                                    0.31146381, 0.00943007, 0.12666353, 0.39380172, 0.07828381])
    # cache[1] is c_next
    close(c_next[3], [-0.16263996, 1.03729328, 0.72938082, -0.54101719, 0.02752074, -0.30821874,
                      0.07651101, -1.03752894, 1.41219977, -0.37647422])


def test_lstm_forward():
    np.random.seed(1)
    x, a0 = randn(3, 10, 7), randn(5, 10)
    lstm, head = course_layers(lstm_params())
    # the notebook's lstm_forward starts from c<0> = 0
    a, _ = lstm.forward(to_time_major(x), h0=(to_time_major(a0)[None], np.zeros((1, 10, 5))))
    assert to_course_layout(a).shape == (5, 10, 7)
    close(to_course_layout(a)[4][3][6], 0.172117767533)
    close(y_hat(head, a)[1][4][3], 0.95087346185)
    close(to_course_layout(to_time_major(x))[1][1], [0.82797464, 0.23009474, 0.76201118, -0.22232814,
                                                     -0.20075807, 0.18656139, 0.41005165])
    # the notebook's c holds every c<t>: seqkit's kernel returns c at the last valid
    # step, so c<2> is the final state of the same examples cut to T_x = 2
    _, (_, c2) = lstm.forward(to_time_major(x), lengths=np.full(10, 2),
                              h0=(to_time_major(a0)[None], np.zeros((1, 10, 5))))
    close(to_course_layout(c2[0])[1][2], -0.855544916718)


def test_rnn_cell_backward():
    """The course's rnn_cell_backward(da_next, cache): da_next is the gradient of
    the loss w.r.t. this cell's output a<t>; for a one-step sequence that is
    seqkit's da at its only step. It returns dxt, da_prev (seqkit's d_state0),
    dWax, dWaa, dba."""
    np.random.seed(1)
    xt, a_prev = randn(3, 10), randn(5, 10)
    rnn, _ = course_layers(rnn_params(order=("Wax", "Waa")))
    rnn.forward(to_time_major(xt[:, :, None]), h0=to_time_major(a_prev)[None])
    da_next = randn(5, 10)
    dxt = rnn.backward(to_time_major(da_next[:, :, None]))
    g = to_course(rnn.grads(), cell="rnn", gradients=True)
    close(to_course_layout(dxt)[1][2][0], -1.3872130506)
    close(to_course_layout(rnn.d_state0[0])[2][3], -0.152399493774)
    close(g["dWax"][3][1], 0.410772824935)
    close(g["dWaa"][1][2], 1.15034506685)
    close(g["dba"][4], [0.20023491])
    assert (g["dWax"].shape, g["dWaa"].shape, g["dba"].shape) == ((5, 3), (5, 5), (5, 1))


def test_rnn_backward():
    np.random.seed(1)
    x, a0 = randn(3, 10, 4), randn(5, 10)
    rnn, _ = course_layers(rnn_params(order=("Wax", "Waa")))
    rnn.forward(to_time_major(x), h0=to_time_major(a0)[None])
    da = randn(5, 10, 4)        # the upstream gradient of every a<t>, (n_a, m, T_x)
    dx = rnn.backward(to_time_major(da))
    g = to_course(rnn.grads(), cell="rnn", gradients=True)
    close(to_course_layout(dx)[1][2], [-2.07101689, -0.59255627, 0.02466855, 0.01483317])
    close(to_course_layout(rnn.d_state0[0])[2][3], -0.314942375127)   # da0
    close(g["dWax"][3][1], 11.2641044965)
    close(g["dWaa"][1][2], 2.30333312658)
    close(g["dba"][4], [-0.74747722])


def test_lstm_cell_backward():
    np.random.seed(1)
    xt, a_prev, c_prev = randn(3, 10), randn(5, 10), randn(5, 10)
    lstm, _ = course_layers(lstm_params())
    lstm.forward(to_time_major(xt[:, :, None]), h0=(to_time_major(a_prev)[None],
                                                    to_time_major(c_prev)[None]))
    da_next, dc_next = randn(5, 10), randn(5, 10)
    # dc_next is the gradient of the cell state c<t>: seqkit's d_state_n for c
    dxt = lstm.backward(to_time_major(da_next[:, :, None]), (None, to_time_major(dc_next)[None]))
    g = to_course(lstm.grads(), cell="lstm", gradients=True)
    close(to_course_layout(dxt)[1][2][0], 3.23055911511)
    close(to_course_layout(lstm.d_state0[0][0])[2][3], -0.0639621419711)
    close(to_course_layout(lstm.d_state0[1][0])[2][3], 0.797522038797)
    close([g["dWf"][3][1], g["dWi"][1][2], g["dWc"][3][1], g["dWo"][1][2]],
          [-0.147954838164, 1.05749805523, 2.30456216369, 0.331311595289])
    close([g["dbf"][4, 0], g["dbi"][4, 0]], [0.18864637, -0.40142491])


def test_lstm_backward():
    """The notebook's test draws x with T_x = 7 but da with 4 steps, and its
    lstm_backward reads T_x from da: only the first 4 steps receive a gradient.
    That is da = 0 at steps 5..7, which is how it runs here."""
    np.random.seed(1)
    x, a0 = randn(3, 10, 7), randn(5, 10)
    lstm, _ = course_layers(lstm_params(head=False))
    lstm.forward(to_time_major(x), h0=(to_time_major(a0)[None], np.zeros((1, 10, 5))))
    da = np.zeros((7, 10, 5))
    da[:4] = to_time_major(randn(5, 10, 4))
    dx = to_course_layout(lstm.backward(da))[:, :, :4]
    g = to_course(lstm.grads(), cell="lstm", gradients=True)
    close(dx[1][2], [0.00218254, 0.28205375, -0.48292508, -0.43281115])
    close(to_course_layout(lstm.d_state0[0][0])[2][3], 0.312770310257)
    close([g["dWf"][3][1], g["dWi"][1][2], g["dWc"][3][1], g["dWo"][1][2]],
          [-0.0809802310938, 0.40512433093, -0.0793746735512, 0.038948775763])
    close([g[f"db{k}"][4, 0] for k in "fico"], [-0.15745657, -0.50848333, -0.42510818, -0.17958196])


# -- the converters themselves ---------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_course_dicts_round_trip(cell):
    rng = np.random.default_rng(0)
    if cell == "rnn":
        p = {"Wax": rng.standard_normal((4, 3)), "Waa": rng.standard_normal((4, 4)),
             "ba": rng.standard_normal((4, 1)), "Wya": rng.standard_normal((2, 4)),
             "by": rng.standard_normal((2, 1))}
    else:
        gates = "fico" if cell == "lstm" else "urc"
        p = {f"{k}{g}": rng.standard_normal((4, 7) if k == "W" else (4, 1)) for g in gates for k in "Wb"}
        p.update(Wy=rng.standard_normal((2, 4)), by=rng.standard_normal((2, 1)))
    sd, head = from_course(p)
    back = to_course(sd, head, cell=cell)
    assert set(back) == set(p)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])


def test_gru_gates_follow_the_lecture():
    """The simplified GRU (no Γ_r): c~ = tanh(W_c [c<t-1>; x] + b_c),
    Γ_u = σ(W_u [c<t-1>; x] + b_u), c<t> = Γ_u c~ + (1 - Γ_u) c<t-1>, written out here
    once as the reference the converted seqkit GRU must match."""
    rng = np.random.default_rng(1)
    n_a, n_x, m = 3, 2, 4
    p = {"Wu": rng.standard_normal((n_a, n_a + n_x)), "bu": rng.standard_normal((n_a, 1)),
         "Wc": rng.standard_normal((n_a, n_a + n_x)), "bc": rng.standard_normal((n_a, 1))}
    c_prev, xt = rng.standard_normal((n_a, m)), rng.standard_normal((n_x, m))
    concat = np.concatenate([c_prev, xt])
    cc = np.tanh(p["Wc"] @ concat + p["bc"])
    gu = 1 / (1 + np.exp(-(p["Wu"] @ concat + p["bu"])))
    expected = gu * cc + (1 - gu) * c_prev
    gru, _ = course_layers(p)
    a, _ = gru.forward(to_time_major(xt[:, :, None]), h0=to_time_major(c_prev)[None])
    np.testing.assert_allclose(to_course_layout(a[0]), expected, atol=1e-12)


def test_weight_a_is_waa_beside_wax():
    rng = np.random.default_rng(2)
    W_a, b_a = rng.standard_normal((4, 4 + 3)), rng.standard_normal(4)
    sd = from_weight_a(W_a, b_a)
    np.testing.assert_array_equal(sd["weight_hh_l0"], W_a[:, :4])
    np.testing.assert_array_equal(sd["weight_ih_l0"], W_a[:, 4:])
    W2, b2 = weight_a(sd)
    np.testing.assert_array_equal(W2, W_a)
    np.testing.assert_array_equal(b2, b_a)


def test_layouts_and_mistakes():
    x = np.arange(24.0).reshape(2, 3, 4)            # (n_x, m, T_x)
    t = to_time_major(x)
    assert t.shape == (4, 3, 2) and t[3, 1, 0] == x[0, 1, 3]
    np.testing.assert_array_equal(to_course_layout(t), x)
    with pytest.raises(SeqkitError, match="course parameter dict"):
        from_course({"W": np.zeros((2, 2))})
    with pytest.raises(SeqkitError, match="shape"):
        to_time_major(np.zeros(3))
    with pytest.raises(SeqkitError, match="b_hn"):
        to_course({"weight_ih_l0": np.zeros((6, 1)), "weight_hh_l0": np.zeros((6, 2)),
                   "bias_ih_l0": np.zeros(6), "bias_hh_l0": np.ones(6)}, cell="gru")
