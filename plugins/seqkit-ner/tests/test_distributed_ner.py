"""Two MPI ranks train the NER model (word + char-BiLSTM features, BiLSTM, CRF,
word dropout drawn by the task) exactly as one process with twice the batch."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from seqkit.checkpoint import load_checkpoint

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'seqkit[mpi]')")
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                        os.environ.get("PATH", "")]))
SMALL = ["--epochs", "2", "--dropout", "0", "--hidden", "8", "--char-dim", "4", "--char-hidden", "4",
         "--embed-dim", "6", "--dtype", "float64", "-q"]


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install 'seqkit[mpi]')")
def test_two_ranks_train_the_ner_model_as_one_process_with_twice_the_batch(toy_data, tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    seqkit = [sys.executable, "-m", "seqkit", "train", "ner", "--data", str(toy_data), *SMALL]
    for cmd in ([MPIEXEC, "-n", "2", *seqkit, "--out", str(tmp_path / "d.npz"), "--batch-size", "3",
                 "--distributed"],
                [*seqkit, "--out", str(tmp_path / "s.npz"), "--batch-size", "6"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    d, _ = load_checkpoint(str(tmp_path / "d.npz"))
    s, _ = load_checkpoint(str(tmp_path / "s.npz"))
    for k in d:
        if k.startswith(("model/", "optim/")) and d[k].dtype.kind == "f":
            scale = max(float(np.abs(s[k]).max()), 1e-12)
            assert float(np.abs(d[k] - s[k]).max()) / scale < 1e-6, k
