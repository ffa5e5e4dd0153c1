"""The pytest plugin of the conformance kit (entry point ``seqkit`` of the group ``pytest11``).

``pytest --seqkit-backend NAME`` and ``pytest --seqkit-cell NAME`` add the kit's tests
(the folder ``seqkit/conformance/kit/``, whose one module imports
``seqkit.conformance.suite``) to the run: alone when no paths are given, beside the
given ones otherwise. Where plugin autoloading is off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``),
load it with ``-p seqkit``. The plugin also registers the ``seqkit`` marker that names a
module's target. Nothing here imports seqkit's registry until tests are collected.
"""
from __future__ import annotations

from pathlib import Path

#: collected as a folder, so that its tests' ids read ``test_seqkit_kit.py::test_...``
KIT = Path(__file__).with_name("kit")


def pytest_addoption(parser):
    group = parser.getgroup("seqkit", "seqkit conformance kit")
    group.addoption("--seqkit-backend", action="append", default=None, metavar="NAME",
                    help="run the conformance kit against every cell kernel of backend NAME "
                         "(repeatable)")
    group.addoption("--seqkit-cell", action="append", default=None, metavar="NAME",
                    help="run the conformance kit against cell NAME on every backend that has "
                         "its kernels (repeatable; with --seqkit-backend, on those only)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "seqkit(backend=None, cell=None): run the seqkit conformance kit's tests "
                   "(imported from seqkit.conformance.suite) against this backend and/or cell")
    if not (config.getoption("seqkit_backend") or config.getoption("seqkit_cell")):
        return
    if config.args_source != config.ArgsSource.ARGS:
        config.args[:] = []  # no paths given: the kit alone, not the whole test suite
    if not any(Path(a.split("::")[0]).resolve() in (KIT, *KIT.iterdir()) for a in config.args):
        config.args.append(str(KIT))


def pytest_report_header(config):
    names = [f"--seqkit-{k} {v}" for k in ("backend", "cell")
             for v in config.getoption(f"seqkit_{k}") or []]
    return f"seqkit conformance kit: {' '.join(names)}" if names else None
