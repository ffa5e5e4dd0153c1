"""Recurrent cells as plugins: what a cell declares, and the registry of them.

A cell is the recurrence a<t> = f(a<t-1>, x<t>) of one layer and direction.
It declares its gate count G (``weight_ih`` is (G*n_a, n_x), ``weight_hh``
(G*n_a, n_a), PyTorch's layout), the names of its states (``("a",)``, or
``("a", "c")`` for the LSTM) and its options (the vanilla RNN's nonlinearity),
and gives, for one backend, the pair of kernels that sweep over time::

    forward(params, x, lengths, state0, **options) -> (a, state_n, cache)
    backward(cache, da, d_state_n) -> (dx, d_state0, dparams)

(the contract is in ``seqkit.backend``'s docstring). Plugins register a
``Cell`` per backend from the ``register_cells`` hook; cells of one name from
several backends (``lstm`` from seqkit-numpy and from seqkit-cupy) merge into
one ``CellType``. Layers, ``--cell`` choices, ``seqkit gradcheck``, the test
grid and checkpoints all read this registry.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SeqkitError
from .plugins import PluginWarning, registry


@dataclass(frozen=True)
class Cell:
    """One cell's kernels for one backend, as a plugin registers it."""

    name: str
    gates: int
    backend: str
    forward: Callable
    backward: Callable
    states: tuple[str, ...] = ("a",)
    #: option name -> the values it accepts, the first one the default
    options: dict = field(default_factory=dict)
    description: str = ""
    #: the kernels also sweep both directions of a bidirectional layer in one call
    #: (parameters stacked (2, ...), batch rows interleaved; seqkit.layers.pairs)
    pairs: bool = False

    def __post_init__(self):
        if not self.name or not self.name.isidentifier():
            raise SeqkitError(f"a cell name must be an identifier, not {self.name!r}")
        if not isinstance(self.gates, int) or self.gates < 1:
            raise SeqkitError(f"cell {self.name!r}: gates must be a positive int")
        if not self.states or self.states[0] != "a":
            raise SeqkitError(f"cell {self.name!r}: its first state must be the output 'a'")


@dataclass
class CellType:
    """A cell across backends: its declaration and one kernel pair per backend."""

    name: str
    gates: int
    states: tuple[str, ...]
    options: dict
    description: str
    kernels: dict = field(default_factory=dict)    # backend name -> (forward, backward)
    providers: dict = field(default_factory=dict)  # backend name -> PluginInfo
    pairs: dict = field(default_factory=dict)      # backend name -> Cell.pairs

    @property
    def n_states(self) -> int:
        return len(self.states)

    def defaults(self) -> dict:
        return {k: v[0] for k, v in self.options.items()}

    def resolve_options(self, given: dict) -> dict:
        """The cell's options with the defaults filled in; unknown names or
        values are a one-line error."""
        unknown = set(given) - set(self.options)
        if unknown:
            raise SeqkitError(f"cell {self.name!r} has no option {sorted(unknown)[0]!r}"
                              + (f" (it has: {', '.join(self.options)})" if self.options else ""))
        out = self.defaults()
        for k, v in given.items():
            if v not in self.options[k]:
                raise SeqkitError(f"{k} must be one of {', '.join(map(str, self.options[k]))} "
                                  f"for cell {self.name!r}, not {v!r}")
            out[k] = v
        return out

    def kernels_for(self, backend: str) -> tuple[Callable, Callable]:
        if backend not in self.kernels:
            raise SeqkitError(f"cell {self.name!r} has no kernel for backend {backend!r} "
                              f"(it has: {', '.join(sorted(self.kernels))})")
        return self.kernels[backend]

    def variants(self) -> list[dict]:
        """Every combination of option values (the gradient-check grid)."""
        combos = [{}]
        for k, values in self.options.items():
            combos = [{**c, k: v} for c in combos for v in values]
        return combos

    def merge(self, cell: Cell, provider) -> str | None:
        """Add one backend's kernels; a declaration that disagrees is refused
        (returns why), so a checkpoint's shapes never depend on load order."""
        if (cell.gates, tuple(cell.states)) != (self.gates, self.states):
            return (f"cell {cell.name!r} from {provider.name!r} declares {cell.gates} gates and "
                    f"states {cell.states}, but it is already registered with {self.gates} "
                    f"gates and states {self.states}")
        self.kernels[cell.backend] = (cell.forward, cell.backward)
        self.pairs[cell.backend] = bool(cell.pairs)
        self.providers[cell.backend] = provider
        for k, v in cell.options.items():
            self.options.setdefault(k, tuple(v))
        return None


def cell_types() -> dict[str, CellType]:
    """Every registered cell, its backends' kernels merged (once per registry)."""
    reg = registry()
    if reg.cells is None:
        cells = {}
        for cell, info in reg.cell_registrations:
            if not isinstance(cell, Cell):
                warnings.warn(f"plugin {info.name!r} registered a {type(cell).__name__} as a cell, "
                              "not a seqkit.cells.Cell; ignored", PluginWarning, stacklevel=2)
                continue
            kind = cells.setdefault(cell.name, CellType(
                cell.name, cell.gates, tuple(cell.states),
                {k: tuple(v) for k, v in cell.options.items()}, cell.description))
            problem = kind.merge(cell, info)
            if problem:
                warnings.warn(problem + "; ignored", PluginWarning, stacklevel=2)
        reg.cells = cells
    return reg.cells


def get_cell(name: str) -> CellType:
    """The registered cell called ``name``; an unknown name is a one-line error
    listing the installed ones."""
    cells = cell_types()
    if name not in cells:
        known = ", ".join(sorted(cells)) or "none (install a backend plugin, e.g. seqkit-numpy)"
        raise SeqkitError(f"unknown cell {name!r}; installed cells: {known}")
    return cells[name]
