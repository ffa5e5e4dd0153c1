"""A NumPy stand-in for ``cupy`` and ``cupyx``, so the CuPy plugin's own code runs on a CPU.

``MODULES`` maps the part of CuPy's API that seqkit-cupy uses onto NumPy, and
``ElementwiseKernel`` (``elementwise``) evaluates a kernel's C body with NumPy.
A CuPy name not mapped here, or C the translator does not read, is an error
naming it: what the stand-in does not know fails the test instead of passing
unchecked. It runs the plugin's logic and kernel arithmetic; it cannot tell a
host array from a device one (both are NumPy here).
"""
from __future__ import annotations

import types

import numpy as np

from .c_expr import TranslationError
from .elementwise import ElementwiseKernel

__all__ = ["MODULES", "ElementwiseKernel", "TranslationError"]


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name, f"A NumPy stand-in for {name} (seqkit-cupy's CPU test).")

    def __getattr__(attr):
        raise AttributeError(f"the CuPy stand-in has no {name}.{attr}: add it to "
                             "plugins/seqkit-cupy/tests/fake_cupy/__init__.py if NumPy's means the same")

    mod.__dict__.update(attrs, __getattr__=__getattr__)
    return mod


# NumPy's where it means what CuPy's does on device arrays (asarray of a device
# array does not copy, nor does np.asarray of a NumPy one)
_SAME_AS_NUMPY = ("ndarray", "float32", "float64", "int64", "asarray", "array", "zeros", "zeros_like",
                  "empty", "empty_like", "arange", "take", "matmul", "ascontiguousarray", "concatenate",
                  "stack", "unique")
_ns = types.SimpleNamespace
_cuda = _ns(runtime=_ns(getDeviceCount=lambda: 1,
                        getDeviceProperties=lambda device: {"name": b"NumPy stand-in"}),
            Device=lambda device=0: _ns(id=device),
            get_current_stream=lambda: _ns(synchronize=lambda: None))


def _scatter_add(a, indices, values):
    np.add.at(a, indices, values)


#: what goes into sys.modules for the duration of a test
MODULES = {
    "cupy": _module("cupy", ElementwiseKernel=ElementwiseKernel, cuda=_cuda,
                    random=_ns(default_rng=np.random.default_rng),
                    asnumpy=lambda a, stream=None: np.array(a),   # a copy, as from the device
                    **{n: getattr(np, n) for n in _SAME_AS_NUMPY}),
    "cupyx": _module("cupyx", scatter_add=_scatter_add),
}
