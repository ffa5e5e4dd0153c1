"""PyTorch twins of seqkit models, for the benchmarks: the same layers, the same initial
weights, the same loss and the same training loop, built from a seqkit model's config and
state_dict (PyTorch's parameter names are seqkit's).

    twin(run) -> Twin      (run: a seqkit Run, or anything with .model, .config, .task, .bos_id)
    Twin.loss(batch)       seqkit's loss of a Batch, with its reduction
    Twin.epoch(train, e)   one epoch as ``seqkit.train.train_epoch`` runs it: the task's
                           batches from default_rng([seed, e]), truncated BPTT windows with
                           the state carried (detached), Adam, clipping, lr decay

Mirrored: the core's default model (embedding or dense input, input dropout, the recurrent
stack, a dense layer, softmax or sigmoid) and composed models of ``input``, ``embedding``,
``dense``, ``dropout``, ``recurrent`` (stacked, bidirectional), ``char_encoder``,
``concatenate``, ``chain``, ``last_step``, and the plugins' ``music_activation``,
``dna_pool`` and ``dna_flat_input``, with the softmax, sigmoid or CRF head or the DNA
plugin's class-weighted and ensemble softmax heads (bench code may know plugins; the
core does not).
Anything else raises ``NotMirrored`` naming it, so a benchmark says what it cannot compare
instead of comparing something else.

Written as a PyTorch user would write the model: ragged batches as packed sequences
(torch's own path for them), the CRF's forward algorithm in tensor operations, every
token's characters through the character LSTM (seqkit reads each distinct word once a
batch: that is seqkit's algorithm, and part of what is measured). PyTorch is optional,
never a dependency: only the benchmarks and their tests import this.
"""
from __future__ import annotations

import os
import time

import numpy as np


class NotMirrored(Exception):
    """A layer, head or setting this module has no PyTorch twin for."""


def twin(run) -> Twin:
    model = run.model
    if hasattr(model, "body"):
        return ComposedTwin(run)
    if hasattr(model, "spec"):
        return SequenceTwin(run)
    raise NotMirrored(type(model).__name__)


def _tensor(torch, a):
    a = np.asarray(a)
    return torch.from_numpy(a).long() if a.dtype.kind in "iu" else torch.from_numpy(a.astype(np.float32))


class Twin:
    """What every twin shares: the optimizer, the training loop, validation, checkpoints.
    A subclass builds ``self.net`` (an ``nn.Module`` holding every parameter) and
    ``summed_loss(batch)``: the loss summed over the batch's real steps and examples."""

    def __init__(self, run):
        import torch
        c = run.config
        if c.optimizer != "adam":
            raise NotMirrored(f"optimizer {c.optimizer!r}")
        self.torch, self.run = torch, run
        self.net = torch.nn.Module()
        self.state = {}      # truncated BPTT: each recurrent module's final state, detached
        self._build()
        self.params = list(self.net.parameters())
        self.opt = torch.optim.Adam(self.params, lr=c.lr, weight_decay=c.weight_decay)

    def _load(self, module, prefix, state):
        """Copy seqkit's ``prefix.*`` parameters into ``module`` (names must match exactly)."""
        torch = self.torch
        module.load_state_dict({k[len(prefix) + 1:]: torch.from_numpy(np.array(v, dtype=np.float32))
                                for k, v in state.items() if k.startswith(prefix + ".")})
        self.net.add_module(prefix.replace(".", "__"), module)
        return module

    def loss(self, batch):
        s = self.summed_loss(batch)
        if self.run.config.reduction == "mean":
            return s / max(float(batch.mask.sum()), 1.0)
        return s / batch.size

    def epoch(self, train, epoch):
        """(seconds, loss a token) of one training epoch over ``train``."""
        from seqkit.data import collate, time_chunks
        from seqkit.train import decayed_lr

        run, c, torch = self.run, self.run.config, self.torch
        self.net.train()
        t0 = time.perf_counter()
        rng = np.random.default_rng([c.seed, epoch])
        examples = run.task.prepare(train, training=True, rng=rng)
        for group in self.opt.param_groups:
            group["lr"] = decayed_lr(c.lr, epoch, c.lr_decay)
        total = tokens = 0.0
        for idx in run.task.batches(examples, c.batch_size, rng):
            self.state = {}
            for batch in time_chunks(collate([examples[i] for i in idx], run.model.kind, run.bos_id),
                                     c.bptt):
                self.opt.zero_grad()
                loss = self.loss(batch)
                loss.backward()
                if c.clip_norm:
                    torch.nn.utils.clip_grad_norm_(self.params, c.clip_norm)
                if c.clip_value:
                    torch.nn.utils.clip_grad_value_(self.params, c.clip_value)
                self.opt.step()
                n = float(batch.mask.sum())
                total += loss.item() * (batch.size if c.reduction == "sum" else n)
                tokens += n
        return time.perf_counter() - t0, total / max(tokens, 1.0)

    def validate(self, valid):
        """Mean loss a token on the validation examples, in seqkit's evaluation batches."""
        from seqkit.data import collate

        run = self.run
        self.net.eval()
        prepared = run.task.prepare(valid, training=False)
        total = tokens = 0.0
        with self.torch.no_grad():
            for idx in run.task.batches(prepared, 64, None):
                self.state = {}
                batch = collate([prepared[i] for i in idx], run.model.kind, run.bos_id)
                total += float(self.summed_loss(batch))
                tokens += float(batch.mask.sum())
        return total / max(tokens, 1.0)

    def save(self, path):
        """Model and optimizer state, written as a user's script would (atomically)."""
        self.torch.save({"model": self.net.state_dict(), "opt": self.opt.state_dict()}, path + ".tmp")
        os.replace(path + ".tmp", path)

    # -- pieces both kinds of model use ----------------------------------------------------
    def _recurrent(self, cfg, prefix, state):
        nn = self.torch.nn
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}.get(cfg["cell"])
        if cls is None:
            raise NotMirrored(f"cell {cfg['cell']!r}")
        rnn_relu = cfg["cell"] == "rnn" and cfg.get("nonlinearity")
        extra = {"nonlinearity": cfg["nonlinearity"]} if rnn_relu else {}
        layers = cfg.get("num_layers", 1)
        m = cls(cfg["input_size"], cfg["hidden_size"], num_layers=layers,
                bidirectional=cfg.get("bidirectional", False),
                dropout=cfg.get("dropout", 0.0) if layers > 1 else 0.0, **extra)  # between layers only
        return self._load(m, prefix, state)

    def _packed(self, rnn, X, lengths):
        """rnn over the first lengths[b] steps of each column of X (T, B, n), zeros after,
        from the state the previous window of the batch left (zeros in the first)."""
        utils = self.torch.nn.utils.rnn
        packed = utils.pack_padded_sequence(X, self.torch.from_numpy(np.asarray(lengths)),
                                            enforce_sorted=False)
        out, h_n = rnn(packed, self.state.get(rnn))
        self.state[rnn] = tuple(h.detach() for h in h_n) if isinstance(h_n, tuple) else h_n.detach()
        return utils.pad_packed_sequence(out, total_length=X.shape[0])[0]

    def _head_loss(self, head_cfg, z, batch, crf=None):
        """The head's loss summed over real steps and examples."""
        torch, F = self.torch, self.torch.nn.functional
        kind = head_cfg["type"]
        mask = torch.from_numpy(batch.mask.astype(np.float32))
        if kind == "softmax":
            y = torch.from_numpy(batch.y).long()
            nll = F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), reduction="none")
            return (nll * mask.reshape(-1)).sum()
        if kind == "sigmoid":
            y = torch.from_numpy(batch.y.astype(np.float32))
            per_step = F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(-1)
            return (per_step * mask).sum()
        if kind == "crf":
            return crf.nll(z, torch.from_numpy(batch.y).long(), mask, batch.lengths)
        if kind in ("weighted_softmax", "ensemble_softmax"):
            # class-weighted cross-entropy; an ensemble's M members each on their own
            # logits, the loss their mean
            M, K = head_cfg.get("members", 1), head_cfg["n_y"]
            y = torch.from_numpy(batch.y).long()
            logp = F.log_softmax(z.reshape(*z.shape[:-1], M, K), dim=-1)
            picked = logp.gather(-1, y[..., None, None].expand(*y.shape, M, 1))[..., 0]
            w = torch.tensor(head_cfg["weights"], dtype=torch.float32)
            return -(picked.mean(-1) * w[y] * mask).sum()
        raise NotMirrored(f"head {kind!r}")


class SequenceTwin(Twin):
    """The core's default model: [embedding | dense input] -> dropout -> recurrent -> dense."""

    def _build(self):
        nn = self.torch.nn
        model = self.run.model
        spec, sd = model.spec, model.state_dict()
        kind = getattr(spec.kind, "value", spec.kind)
        if kind not in ("one-to-many", "many-to-many") or spec.head not in ("softmax", "sigmoid"):
            raise NotMirrored(f"{kind} {spec.head} default model")
        self.embedding = None
        if "embedding.weight" in sd:
            self.embedding = self._load(nn.Embedding(*sd["embedding.weight"].shape), "embedding", sd)
        self.input_dropout = nn.Dropout(spec.dropout)
        self.net.add_module("input_dropout", self.input_dropout)  # for train() / eval()
        rnn_cfg = {"cell": spec.cell, "input_size": sd["rnn.weight_ih_l0"].shape[1],
                   "hidden_size": spec.hidden, "num_layers": spec.layers,
                   "bidirectional": spec.bidirectional, "dropout": spec.dropout if spec.layers > 1 else 0.0,
                   "nonlinearity": getattr(spec, "nonlinearity", None)}
        self.rnn = self._recurrent(rnn_cfg, "rnn", sd)
        self.head = self._load(nn.Linear(sd["head.weight"].shape[1], sd["head.weight"].shape[0]), "head", sd)

    def summed_loss(self, batch):
        x = _tensor(self.torch, batch.x)
        x = self.embedding(x) if self.embedding is not None else x
        a = self._packed(self.rnn, self.input_dropout(x), batch.lengths)
        return self._head_loss({"type": self.run.model.spec.head}, self.head(a), batch)


class _CRF:
    """seqkit's linear-chain CRF (seqkit/heads/crf.py), its negative log-likelihood
    in tensor operations: forbidden transitions score -inf."""

    def __init__(self, torch, module, cfg):
        self.torch, self.m = torch, module
        K = cfg["n_tags"]
        self.allowed = {k: torch.tensor(np.asarray(cfg.get(k) if cfg.get(k) is not None
                                                   else np.ones(shape, bool), dtype=bool))
                        for k, shape in (("allowed", (K, K)), ("allowed_start", (K,)), ("allowed_end", (K,)))}

    def nll(self, z, y, mask, lengths):
        torch = self.torch
        ninf = torch.tensor(-np.inf)
        A = torch.where(self.allowed["allowed"], self.m.transitions, ninf)
        s = torch.where(self.allowed["allowed_start"], self.m.start, ninf)
        e = torch.where(self.allowed["allowed_end"], self.m.end, ninf)
        T, B, _ = z.shape
        cols = torch.arange(B)
        last = torch.from_numpy(np.asarray(lengths) - 1).long()
        gold = s[y[0]] + (z.gather(2, y[..., None])[..., 0] * mask).sum(0)
        # padded steps' labels may make a forbidden pair: where, not times 0 (-inf * 0 is nan)
        pairs = torch.where(mask[1:] > 0, A[y[:-1], y[1:]], torch.zeros(()))
        gold = gold + pairs.sum(0) + e[y[last, cols]]
        alpha = s + z[0]
        for t in range(1, T):
            step = torch.logsumexp(alpha[:, :, None] + A[None], dim=1) + z[t]
            alpha = torch.where(mask[t, :, None] > 0, step, alpha)
        return (torch.logsumexp(alpha + e, dim=1) - gold).sum()


class ComposedTwin(Twin):
    """A task's own model, mirrored layer by layer from its tree."""

    def _build(self):
        torch = self.torch
        model = self.run.model
        self.state = model.state_dict()
        self.names = {id(layer): name for name, layer in model.named_layers().items()}
        self.forward = self._layer(model.body)
        self.head_cfg = model.head.config()
        self.crf = None
        if self.head_cfg["type"] == "crf":
            K = self.head_cfg["n_tags"]
            m = torch.nn.Module()
            for name, shape in (("transitions", (K, K)), ("start", (K,)), ("end", (K,))):
                m.register_parameter(name, torch.nn.Parameter(torch.zeros(shape)))
            self.crf = _CRF(torch, self._load(m, self.names[id(model.head)], self.state), self.head_cfg)
        elif self.head_cfg["type"] not in ("softmax", "sigmoid", "weighted_softmax", "ensemble_softmax"):
            raise NotMirrored(f"head {self.head_cfg['type']!r}")

    def _layer(self, layer):
        """A function (X, ctx) -> Y for ``layer`` and its children; ctx: the batch's
        inputs as tensors, lengths and sublengths."""
        nn, torch = self.torch.nn, self.torch
        cfg, kind = layer.config(), layer.type_name
        name = self.names.get(id(layer))
        if kind == "chain":
            parts = [self._layer(child) for child in layer.children()]

            def chain(X, ctx):
                for f in parts:
                    X = f(X, ctx)
                return X
            return chain
        if kind == "concatenate":
            parts = [self._layer(child) for child in layer.children()]
            return lambda X, ctx: torch.cat([f(X, ctx) for f in parts], dim=-1)
        if kind == "input":
            return lambda X, ctx: ctx["inputs"][cfg["name"]] if X is None or isinstance(X, dict) else X
        if kind == "embedding":
            m = self._load(nn.Embedding(cfg["num_embeddings"], cfg["embedding_dim"]), name, self.state)
            return lambda X, ctx: m(X)
        if kind == "dense":
            m = self._load(nn.Linear(cfg["in_features"], cfg["out_features"]), name, self.state)
            return lambda X, ctx: m(X)
        if kind == "dropout":
            m = nn.Dropout(cfg["p"])
            self.net.add_module(f"dropout{len(list(self.net.children()))}", m)  # for train()/eval()
            return lambda X, ctx: m(X)
        if kind == "music_activation" and cfg.get("fn") in ("relu", "tanh", "sigmoid"):
            fn = getattr(torch, cfg["fn"])
            return lambda X, ctx: fn(X)
        if kind == "recurrent":
            m = self._recurrent(cfg, name, self.state)
            return lambda X, ctx: self._packed(m, X, ctx["lengths"])
        if kind == "char_encoder":
            return self._char_encoder(layer, cfg)
        if kind in ("last_step", "dna_pool"):
            return self._pool(cfg.get("modes", ["last"]), cfg.get("directions", 1))
        if kind == "dna_flat_input":      # (T, B, n) features -> (B, T n), position-major
            return lambda X, ctx: (lambda x: x.permute(1, 0, 2).reshape(x.shape[1], -1))(
                ctx["inputs"][cfg["name"]])
        raise NotMirrored(f"layer {kind!r}")

    def _pool(self, modes, directions):
        """(T, B, n) outputs -> (B, n x modes): last ([forward a<T_x> | backward a<1>]),
        mean and max over each example's steps, flat (every step's output)."""
        torch = self.torch

        def pool(X, ctx):
            T, B, n = X.shape
            lengths = torch.from_numpy(np.asarray(ctx["lengths"], dtype=np.int64))
            valid = (torch.arange(T)[:, None] < lengths[None, :])[..., None]
            rows, H, parts = torch.arange(B), n // directions, []
            for mode in modes:
                if mode == "flat":
                    parts.append(X.permute(1, 0, 2).reshape(B, T * n))
                elif mode == "last":
                    ends = [lengths - 1, torch.zeros_like(lengths)][:directions]
                    parts.append(torch.cat([X[t, rows, d * H:(d + 1) * H] for d, t in enumerate(ends)], -1))
                elif mode == "mean":
                    parts.append((X * valid).sum(0) / lengths[:, None])
                elif mode == "max":
                    parts.append(torch.where(valid, X, torch.tensor(-np.inf)).max(0).values)
                else:
                    raise NotMirrored(f"pooling {mode!r}")
            return torch.cat(parts, -1)
        return pool

    def _char_encoder(self, layer, cfg):
        """Each word's characters through an embedding and a (Bi)LSTM; the word's final
        states [forward | backward], zeros where there is no word."""
        nn, torch = self.torch.nn, self.torch
        prefix = self.names[id(next(iter(layer.named_children().values())))].rsplit(".", 1)[0]
        emb = self._load(nn.Embedding(cfg["num_embeddings"], cfg["embedding_dim"]),
                         f"{prefix}.embedding", self.state)
        rnn = self._recurrent({"cell": cfg["cell"], "input_size": cfg["embedding_dim"],
                               "hidden_size": cfg["hidden_size"], "bidirectional": cfg["bidirectional"]},
                              f"{prefix}.rnn", self.state)
        D, H = 2 if cfg["bidirectional"] else 1, cfg["hidden_size"]
        utils = torch.nn.utils.rnn

        def encode(X, ctx):
            ids, sub = ctx["inputs"][cfg["input"]], ctx["sublengths"][cfg["input"]]
            T, B = sub.shape
            t_idx, b_idx = np.nonzero(sub > 0)
            out = torch.zeros(T, B, D * H)
            if t_idx.size == 0:
                return out
            lens = sub[t_idx, b_idx]
            words = ids[torch.from_numpy(t_idx), torch.from_numpy(b_idx), :int(lens.max())]
            packed = utils.pack_padded_sequence(emb(words), torch.from_numpy(lens.astype(np.int64)),
                                                batch_first=True, enforce_sorted=False)
            h_n = rnn(packed)[1]
            h_n = h_n[0] if isinstance(h_n, tuple) else h_n             # an LSTM's (h, c)
            final = torch.cat(list(h_n[-D:]), dim=-1)                    # the last layer's directions
            return out.index_put((torch.from_numpy(t_idx), torch.from_numpy(b_idx)), final)
        return encode

    def summed_loss(self, batch):
        torch = self.torch
        ctx = {"inputs": {k: _tensor(torch, v) for k, v in batch.inputs.items()},
               "lengths": batch.lengths, "sublengths": dict(batch.sublengths)}
        z = self.forward(ctx["inputs"], ctx)
        return self._head_loss(self.head_cfg, z, batch, self.crf)
