"""Row-sparse gradients: the rows of a dense gradient array that hold its non-zeros.

An embedding's backward touches only the rows of the ids it gathered. It
keeps one dense (V, E) gradient array from step to step (no V x E array of
zeros per step), writes those rows, zeroes them again in ``zero_grad``, and
registers the array here. Readers that can use the rows do
(``clip_grad_norm``, ``SparseAdam``: work on a few hundred rows, not on V);
every other reader sees an ordinary dense array of the parameter's shape
(``model.grads()`` stays dense, so an allreduce can pack it).

The promise: every row of ``g`` outside ``touched_rows(g)`` is zero. Code that
writes into a gradient array in place beyond those rows (an allreduce that
sums other processes' gradients into it) calls ``mark_dense(g)``: from then
until the owner's next ``zero_grad`` the array counts as dense
(``touched_rows`` gives None) and that ``zero_grad`` zeroes all of it.
"""
from __future__ import annotations

import weakref

# id(array) -> [the array (weakly where the array type allows), its owner (weakly), dense?]
_ENTRIES: dict[int, list] = {}


def _ref(obj):
    try:
        return weakref.ref(obj)
    except TypeError:  # an array type without weak references: held while its owner lives
        return lambda: obj


def register(grad, owner) -> None:
    """``grad`` is ``owner``'s persistent gradient array; ``owner.touched_rows()``
    gives the (sorted, unique) rows written since its last ``zero_grad``."""
    for key in [k for k, (_, o, _) in _ENTRIES.items() if o() is None]:
        del _ENTRIES[key]  # owners gone: forget their arrays
    _ENTRIES[id(grad)] = [_ref(grad), weakref.ref(owner), False]


def _entry(grad):
    entry = _ENTRIES.get(id(grad))
    if entry is None or entry[0]() is not grad or entry[1]() is None:
        return None
    return entry


def is_row_sparse(grad) -> bool:
    """Whether ``grad`` is a registered row-sparse gradient (dense-marked or not)."""
    return _entry(grad) is not None


def touched_rows(grad):
    """The rows that hold ``grad``'s non-zeros (an index array of grad's module),
    or None: not a row-sparse gradient, or marked dense this step."""
    entry = _entry(grad)
    if entry is None or entry[2]:
        return None
    return entry[1]().touched_rows()


def mark_dense(grad) -> None:
    """Say that rows outside ``touched_rows(grad)`` may now be non-zero (no-op
    for an array that is not a registered row-sparse gradient)."""
    entry = _entry(grad)
    if entry is not None:
        entry[2] = True


def take_dense(grad) -> bool:
    """For the owner's ``zero_grad``: whether ``grad`` was marked dense (then all
    of it must be zeroed); the mark is cleared."""
    entry = _entry(grad)
    if entry is None:
        return False
    was, entry[2] = entry[2], False
    return was
