"""NumPy-only helpers of the kernels (the shared ones live in ``seqkit.kernels``)."""
from __future__ import annotations

import numpy as np


def transposed(W, block: int = 64):
    """A C-contiguous copy of W.T, for the recurrent GEMM ``a_prev @ W.T``.

    BLAS runs that GEMM faster on a contiguous W.T than on the transposed
    view, but ``np.ascontiguousarray(W.T)`` hits cache conflicts on large W
    (about 10x slower than this); copying in blocks of rows stays in cache.
    """
    out = np.empty((W.shape[1], W.shape[0]), dtype=W.dtype)
    for i in range(0, W.shape[0], block):
        out[:, i:i + block] = W[i:i + block].T
    return out


def sweep_array(order, shape, dtype):
    """An array the time sweep writes in full, row by row, except the padded rows,
    which must read 0: zeros only when some step of the batch is padded, since
    np.zeros costs a pass over memory that np.empty does not."""
    ragged = order.n_active[-1] < order.lengths.size
    return (np.zeros if ragged else np.empty)(shape, dtype=dtype)
