"""What the kit checks: the backends and cells named on the command line or by a
``seqkit`` marker, turned into test parameters.

``pytest_generate_tests`` (re-exported by ``seqkit.conformance.suite``, so it also
works where the pytest plugin is not loaded) parametrizes three fixtures:

    seqkit_kernel   a ``Kernel``: backend x cell x one combination of the cell's options
    seqkit_case     ``(Kernel, seqkit.testing.Case)``: the gradient grid of each kernel
    seqkit_backend  a backend name, for the backends named explicitly

A backend that cannot run here is one skipped parameter per test, with its reason
(failing instead under ``SEQKIT_REQUIRE_GPU=1``, as ``seqkit.testing.backend_params``).
A name that is not installed is one failing parameter saying so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

MARKER = "seqkit"
#: the backend every other one is compared with
REFERENCE = "numpy"
FIXTURES = ("seqkit_kernel", "seqkit_case", "seqkit_backend")


@dataclass(frozen=True)
class Kernel:
    """One kernel pair under test: a cell on a backend, with one combination of options."""

    backend: str
    cell: str
    options: tuple = ()   # sorted (name, value) pairs

    @property
    def opts(self) -> dict:
        return dict(self.options)

    @property
    def label(self) -> str:
        return "-".join([self.cell, *(str(v) for _, v in self.options)])

    def __str__(self) -> str:
        return f"{self.label} on {self.backend}"


class Problem(str):
    """A parameter standing for a mistake (an unknown name): the test fails with it."""


def need(value):
    """The parameter itself, or a failure when it is a ``Problem``."""
    if isinstance(value, Problem):
        pytest.fail(str(value), pytrace=False)
    return value


def _names(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def requested(metafunc) -> tuple[list[str], list[str]] | None:
    """``(backends, cells)`` from the closest ``seqkit`` marker, else from the
    ``--seqkit-backend`` / ``--seqkit-cell`` options; None when nothing is named."""
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is not None:
        unknown = set(marker.kwargs) - {"backend", "cell"}
        if unknown or marker.args:
            raise pytest.UsageError(f"pytest.mark.seqkit takes backend= and cell= only, "
                                    f"not {sorted(unknown) or list(marker.args)}")
        backends, cells = _names(marker.kwargs.get("backend")), _names(marker.kwargs.get("cell"))
    else:
        backends = _names(metafunc.config.getoption("seqkit_backend", default=None))
        cells = _names(metafunc.config.getoption("seqkit_cell", default=None))
    return (backends, cells) if backends or cells else None


def _require_gpu() -> bool:
    return os.environ.get("SEQKIT_REQUIRE_GPU", "") not in ("", "0")


def plan(backends: list[str], cells: list[str]) -> tuple[list, list]:
    """``(kernel params, backend params)``: ``pytest.param``s of ``Kernel``s and of
    backend names, skipped or failing ones included."""
    from ..backend import available_backends
    from ..cells import cell_types

    installed, types = available_backends(), cell_types()
    problems = [f"backend {b!r} is not installed (installed: {', '.join(installed) or 'none'})"
                for b in backends if b not in installed]
    problems += [f"cell {c!r} is not registered: is its plugin installed? (registered cells: "
                 f"{', '.join(sorted(types)) or 'none'})" for c in cells if c not in types]
    if problems:
        bad = [pytest.param(Problem(p), id="not-installed") for p in problems]
        return bad, bad
    pairs = []
    for name in cells or sorted(types):
        kernels = types[name].kernels
        for b in backends or sorted(kernels):
            if b in kernels:
                pairs.append((b, name))
            elif cells and backends:
                problems.append(f"cell {name!r} has no kernel for backend {b!r} "
                                f"(it has: {', '.join(sorted(kernels))})")
    problems += [f"backend {b!r} registers no cell kernels: nothing to check"
                 for b in backends if not cells and not any(p[0] == b for p in pairs)]
    kernel_params = [pytest.param(Problem(p), id="no-kernel") for p in problems]
    skipped = set()
    for b, name in pairs:
        reason = installed[b]
        if reason is not None:
            if b not in skipped:
                skipped.add(b)
                kernel_params.append(_unavailable(b, reason))
            continue
        for options in types[name].variants():
            k = Kernel(b, name, tuple(sorted(options.items())))
            kernel_params.append(pytest.param(k, id=f"{b}-{k.label}"))
    backend_params = [pytest.param(b, id=b) if installed[b] is None else _unavailable(b, installed[b])
                      for b in backends]
    return kernel_params, backend_params


def _unavailable(backend: str, reason: str):
    message = f"backend {backend!r} unavailable: {reason}"
    if _require_gpu():
        return pytest.param(Problem(message + " (SEQKIT_REQUIRE_GPU=1: it must run, not skip)"),
                            id=backend)
    return pytest.param(None, id=backend, marks=pytest.mark.skip(reason=message))


def grid(kernel_params: list) -> list:
    """The gradient grid of every kernel: ``(Kernel, Case)`` parameters."""
    from ..testing import recurrent_cases

    out = []
    for p in kernel_params:
        k = p.values[0]
        if not isinstance(k, Kernel):
            out.append(p)
            continue
        for case in recurrent_cases([k.cell], backend=k.backend):
            if case.options == k.options:
                out.append(pytest.param((k, case), id=f"{k.backend}-{case}".replace(" ", "-")))
    return out


def pytest_generate_tests(metafunc):
    wanted = [f for f in FIXTURES if f in metafunc.fixturenames]
    if not wanted:
        return
    names = requested(metafunc)
    if names is None:
        reason = ("the seqkit kit needs a target: pytest --seqkit-backend NAME / --seqkit-cell NAME, "
                  "or pytest.mark.seqkit(backend=..., cell=...) on the module")
        for f in wanted:
            metafunc.parametrize(f, [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                                 ids=["no-target"])
        return
    kernels, backends = plan(*names)
    if not backends:
        backends = [pytest.param(None, id="no-backend", marks=pytest.mark.skip(
            reason="no backend named (--seqkit-backend): its array services are not checked"))]
    values = {"seqkit_kernel": kernels, "seqkit_case": grid(kernels), "seqkit_backend": backends}
    for f in wanted:
        metafunc.parametrize(f, values[f])
