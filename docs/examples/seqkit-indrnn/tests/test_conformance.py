"""seqkit's conformance kit, run against this plugin's cell: gradients over the whole
grid, the kernel contract, padding, ragged bidirectional batches, inference without
caches, seeds and dtypes (``seqkit.conformance``). ``pytest --seqkit-cell indrnn``
runs the same kit without this file."""
import pytest

from seqkit.conformance.suite import *  # noqa: F403  (the kit's tests)

pytestmark = pytest.mark.seqkit(cell="indrnn")
