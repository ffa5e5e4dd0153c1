"""Pictures of results: training curves, per-step gradient heat maps, the gradient
through time (matplotlib, an optional extra)."""
from __future__ import annotations

import os

from .atomic import write_atomic


def plot_history(epochs: list[dict], path: str, title: str = "") -> None:
    """Save train/valid loss per epoch (and any other valid_* metric) to a PNG; with
    ``--diagnostics`` records, heat maps of the per-step gradient norms beside it."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    xs = [e["epoch"] for e in epochs]
    metrics = sorted({k for e in epochs for k in e if k.startswith("valid_") and k != "valid_loss"})
    diag = [e for e in epochs if "grad_da_norm" in e]
    panels = 1 + bool(metrics) + 2 * bool(diag)
    fig, axes = plt.subplots(1, panels, figsize=(1 + 4 * panels, 3.5), squeeze=False)
    ax = axes[0, 0]
    ax.plot(xs, [e["train_loss"] for e in epochs], "o-", label="train")
    if any("valid_loss" in e for e in epochs):
        ax.plot(xs, [e.get("valid_loss") for e in epochs], "s-", label="valid")
    ax.set(xlabel="epoch", ylabel="loss (nats per token)", title=title)
    ax.legend()
    if metrics:
        ax2 = axes[0, 1]
        for k in metrics:
            ax2.plot(xs, [e.get(k) for e in epochs], "o-", label=k[6:])
        ax2.set(xlabel="epoch", title="validation metrics")
        ax2.legend()
    if diag:
        _heat_maps(fig, axes[0, -2:], diag)
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100), what="picture ")
    finally:
        plt.close(fig)


def _heat_maps(fig, axes, epochs: list[dict]) -> None:
    """Time step x epoch pictures of ||dL/da<t>|| and ||dL/dx<t>||, log colour scale."""
    from matplotlib.colors import LogNorm

    from .diagnostics import heat_map

    xs = [e["epoch"] for e in epochs]
    titles = {"grad_da_norm": "||dL/da<t>|| into the first layer",
              "grad_dx_norm": "||dL/dx<t>|| after BPTT"}
    for ax, (key, title) in zip(axes, titles.items()):
        grid = heat_map(epochs, key)
        positive = grid[grid > 0]
        spread = positive.size and positive.min() < positive.max()
        norm = LogNorm(positive.min(), positive.max()) if spread else None
        im = ax.imshow(grid, origin="lower", aspect="auto", interpolation="nearest", norm=norm,
                       extent=(xs[0] - 0.5, xs[-1] + 0.5, 0.5, grid.shape[0] + 0.5))
        ax.set(xlabel="epoch", ylabel="time step t", title=title)
        fig.colorbar(im, ax=ax)


def plot_gradient_decay(curves: dict, path: str, title: str = "") -> None:
    """||dL<T_x>/da<t>|| against T_x - t, one line per model, log scale, to a PNG.
    curves : label -> {"norms": [t = 1..T_x], "model": ..., "T_x": ...}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, c in curves.items():
        norms = list(reversed(c["norms"]))     # index k: T_x - t = k
        ax.semilogy(range(len(norms)), norms, "o-", ms=3,
                    label=f"{c.get('model', '')} ({os.path.basename(label)})")
    ax.set(xlabel="T_x - t (steps back from the last)", ylabel="||dL<T_x>/da<t>||",
           title=title or "the last step's loss, back through time")
    ax.legend()
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100), what="picture ")
    finally:
        plt.close(fig)
