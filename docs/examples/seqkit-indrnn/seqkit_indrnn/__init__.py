"""seqkit-indrnn: a third-party cell plugin, the independently recurrent network.

Registers the cell ``indrnn`` (Li et al. 2018: a<t> = g(W_ax x<t> + w_aa * a<t-1> + b_a),
one gate block, one state ``a``) for the ``numpy`` backend through the ``seqkit``
entry point ``indrnn = seqkit_indrnn``. The kernels are in ``seqkit_indrnn.kernel``.
"""
from seqkit import hookimpl
from seqkit.cells import Cell

from .kernel import indrnn_backward, indrnn_forward

__version__ = "0.1.0"
__all__ = ["CELL", "indrnn_forward", "indrnn_backward", "register_cells"]

CELL = Cell("indrnn", gates=1, backend="numpy", forward=indrnn_forward, backward=indrnn_backward,
            states=("a",), options={"nonlinearity": ("relu", "tanh")},
            description="independently recurrent: a<t> = g(W_ax x<t> + w_aa * a<t-1> + b_a)")


@hookimpl
def register_cells(register):
    register(CELL)
