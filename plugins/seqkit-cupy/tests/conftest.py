"""The CuPy backend's test gate.

Tests marked ``gpu`` are skipped with the reason when CuPy or a CUDA device is
missing, unless ``SEQKIT_REQUIRE_GPU=1`` (``tox -e gpu``): then they fail, so a
GPU run cannot pass vacuously. The plugin itself must import without CuPy, so
this file puts it on ``sys.path`` when it is not installed.
"""
import os
import sys
from pathlib import Path

import pytest

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
try:
    import seqkit_cupy  # noqa: F401
except ImportError:
    sys.path.insert(0, str(PLUGIN_ROOT))

from seqkit_cupy.backend import CupyBackend  # noqa: E402


@pytest.fixture(autouse=True)
def _gpu_gate(request):
    if request.node.get_closest_marker("gpu") is None:
        return
    reason = CupyBackend.unavailable_reason()
    if reason is None:
        return
    message = f"cupy unavailable: {reason}"
    if os.environ.get("SEQKIT_REQUIRE_GPU", "") == "1":
        pytest.fail(f"{message} (SEQKIT_REQUIRE_GPU=1: GPU tests must not be skipped)",
                    pytrace=False)
    pytest.skip(message)
