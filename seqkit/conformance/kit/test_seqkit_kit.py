"""What ``pytest --seqkit-backend NAME`` / ``--seqkit-cell NAME`` collects: the kit's tests
(``seqkit.conformance.suite``), their targets taken from those options."""
from seqkit.conformance.suite import *  # noqa: F403
