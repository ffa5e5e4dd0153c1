"""Pictures of results: training curves (matplotlib, an optional extra)."""
from __future__ import annotations

import os


def plot_history(epochs: list[dict], path: str, title: str = "") -> None:
    """Save train/valid loss per epoch (and any other valid_* metric) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    xs = [e["epoch"] for e in epochs]
    metrics = sorted({k for e in epochs for k in e if k.startswith("valid_") and k != "valid_loss"})
    fig, axes = plt.subplots(1, 1 + bool(metrics), figsize=(5 + 4 * bool(metrics), 3.5),
                             squeeze=False)
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
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
