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
