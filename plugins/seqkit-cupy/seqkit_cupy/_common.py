"""The device helpers of the fused step kernels (what the cells share besides
``seqkit.kernels``, which the cells call with ``xp=cupy``).

The fused step kernels (``cupy.ElementwiseKernel``, one launch per step and
direction, templated on ``T`` = float or double) run over the (n_t, n_a)
elements of a step. A wide per-step array such as the gates, (n_t, G*n_a), is
passed ``raw`` and indexed by hand: ``sk_gate0(i, n_a, G)`` is where element
i's first gate sits, gate k is ``k * n_a`` further on. Raw indexing honours
strides, so this is right for any layout (every such array here is
C-contiguous anyway).

The kernel bodies keep to the C that the CPU test's CuPy stand-in
(``tests/fake_cupy/``) evaluates with NumPy: declarations, assignments,
arithmetic, ternaries and calls, no control flow. That is how they are tested
without a GPU.

This module imports no CuPy: it is text.
"""

#: sigmoid as 0.5 tanh(v/2) + 0.5, as the NumPy backend computes it: no overflow
#: for large |v|, one transcendental. The row of element idx in a step is
#: idx / H, so its gate 0 in a raw (n, G*H) array is at row*G*H + (idx - row*H).
PREAMBLE = r"""
template <typename T> __device__ __forceinline__ T sk_sigmoid(const T v) {
    return T(0.5) * tanh(T(0.5) * v) + T(0.5);
}
__device__ __forceinline__ ptrdiff_t sk_gate0(const ptrdiff_t idx, const ptrdiff_t H, const ptrdiff_t G) {
    return (idx / H) * (G - 1) * H + idx;
}
"""
