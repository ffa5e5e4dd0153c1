"""Pictures of piano rolls (matplotlib, an optional extra): what a generated MIDI
file holds, its primer's notes in another colour."""
from __future__ import annotations

import os

import numpy as np

from seqkit import SeqkitError

from .midi import read_midi

GENERATED, PRIMER = "#1f5fa8", "#e07b00"


def plot_midi(samples: list[bytes], names: list[str], out: str, steps_per_quarter: int,
              title: str = "") -> None:
    """One panel per MIDI file (its contents in ``samples``): time step across, pitch
    up, notes of the track named "primer" orange, the others blue; a PNG at ``out``."""
    try:
        import matplotlib
    except ImportError:
        raise SeqkitError("--plot needs matplotlib: pip install 'seqkit-music[plot]'") from None
    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    scores = [read_midi(name, steps_per_quarter, data) for name, data in zip(names, samples)]
    paths = names
    fig, axes = plt.subplots(len(scores), 1, figsize=(10, 2.6 * len(scores) + 0.6), squeeze=False)
    colours = ListedColormap(["white", PRIMER, GENERATED])
    for ax, path, score in zip(axes[:, 0], paths, scores):
        # one image per panel, 1 where a primer note sounds, 2 a generated one: a few
        # draw calls whatever the number of notes
        pitches = [n[0] for n in score.notes] or [60]
        lo, hi = min(pitches) - 2, max(pitches) + 2
        grid = np.zeros((hi - lo + 1, max(score.n_steps, 1)), dtype=np.int8)
        for (pitch, start, end), part in zip(score.notes, score.parts or [""] * len(score.notes)):
            grid[pitch - lo, start:end] = 1 if part == "primer" else 2
        ax.imshow(grid, cmap=colours, vmin=0, vmax=2, origin="lower", aspect="auto",
                  interpolation="nearest", extent=(0, grid.shape[1], lo - 0.5, hi + 0.5))
        for step, text in score.markers or []:
            if text == "generated" and step:
                ax.axvline(step, color="0.5", linewidth=0.8, linestyle=":")
        ticks = np.arange(12 * (lo // 12 + 1), hi + 1, 12)
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"C{t // 12 - 1}" for t in ticks])
        ax.set_ylabel("pitch")
        ax.set_title(os.path.basename(path), fontsize=9, loc="left")
    axes[-1, 0].set_xlabel(f"time step ({steps_per_quarter} per quarter note)")
    handles = [Patch(color=GENERATED, label="generated")]
    if any(p == "primer" for s in scores for p in (s.parts or [])):
        handles.insert(0, Patch(color=PRIMER, label="primer"))
    axes[0, 0].legend(handles=handles, loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = f"{out}.tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)
