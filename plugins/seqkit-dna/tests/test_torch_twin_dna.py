"""The DNA classifier's PyTorch twin (bench/torch_twin.py, used by bench/train_speed.py):
every pooling mode, the flat (wide) input and the class-weighted ensemble head give
seqkit's loss and gradients."""
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from seqkit_dna.layers import EnsembleSoftmax, FlatInput, SeqPool

from seqkit import ComposedModel, Dense, Embedding, Input, Recurrent
from seqkit.data import Batch
from seqkit.layers.combinators import Chain, Concatenate
from seqkit.train import TrainConfig, forward_loss

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import torch_twin  # noqa: E402


@pytest.mark.parametrize("modes", [["flat"], ["last", "max"], ["mean"]])
def test_classifier_twin_has_seqkits_loss_and_gradients(modes):
    rng = np.random.default_rng(1)
    T, B, M, K = 5, 4, 2, 3
    lengths = np.full(B, T) if "flat" in modes else np.array([5, 2, 4, 1])
    pool = SeqPool(2, modes, length=T)
    deep = Chain(Concatenate(Input("bases"), Chain(Input("kmers"), Embedding(9, 3, seed=1))),
                 Recurrent("lstm", 7, 4, bidirectional=True, seed=2), pool)
    parts = [deep] + ([FlatInput("wide", T)] if "flat" in modes else [])
    width = pool.width(8) + (T * 4 if "flat" in modes else 0)
    body = Chain(Concatenate(*parts), Dense(width, M * K, seed=3))
    model = ComposedModel("many-to-one", body, EnsembleSoftmax(K, members=M, weights=[1.0, 2.5, 0.5]))
    inputs = {"bases": rng.random((T, B, 4)).astype(np.float32), "kmers": rng.integers(0, 9, (T, B)),
              "wide": rng.random((T, B, 4)).astype(np.float32)}
    batch = Batch(inputs, lengths, rng.integers(0, K, B), np.ones(B, np.float32))
    run = types.SimpleNamespace(model=model, config=TrainConfig(), task=None, bos_id=None)
    twin = torch_twin.twin(run)
    model.train()
    model.zero_grad()
    loss = forward_loss(model, batch, "sum")[0]
    t_loss = twin.loss(batch)
    t_loss.backward()
    assert t_loss.item() == pytest.approx(loss, rel=1e-5)
    grads = model.grads()
    for name, p in twin.net.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name.replace("__", ".")], rtol=1e-4,
                                   atol=1e-6, err_msg=name)
    assert {n.replace("__", ".") for n, _ in twin.net.named_parameters()} == set(grads)
