"""seqkit-mgu: a third-party cell plugin (a test fixture), the minimal gated unit.

Registers the cell ``mgu`` (Zhou et al. 2016, two gate blocks f, n, one state
``a``) for the ``numpy`` backend through the ``seqkit`` entry point
``mgu = seqkit_mgu``. The kernels are in ``seqkit_mgu.kernel``.
"""
from seqkit import hookimpl
from seqkit.cells import Cell

from .kernel import mgu_backward, mgu_forward

__all__ = ["CELL", "mgu_forward", "mgu_backward", "register_cells"]

CELL = Cell("mgu", gates=2, backend="numpy", forward=mgu_forward, backward=mgu_backward,
            states=("a",), options={},
            description="minimal gated unit (gates f, n): a<t> = (1 - f) * a<t-1> + f * n")


@hookimpl
def register_cells(register):
    register(CELL)
