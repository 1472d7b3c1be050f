"""The card's figures: row-normalised confusion matrices, class distributions and the accuracy-vs-time curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI, servers and the push script have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_accuracy_curve", "plot_class_distribution", "plot_confusion_matrix", "save_figure"]

ANNOTATE_UP_TO = 12  # classes; beyond that, numbers in the cells are unreadable


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write `fig` to `path` (its folder made if need be) and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_confusion_matrix(head: str, labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> Path:
    """Rows normalised to the true class (so the diagonal is per-class recall, whatever the class size),
    with a figure that grows with the number of classes so that every label name stays legible."""
    counts = np.asarray(matrix, dtype=float)
    support = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    side = max(5.0, 0.38 * len(labels) + 3.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true class")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels=labels, rotation=90)
    ax.set_yticks(ticks, labels=[f"{label} ({int(n)})" for label, n in zip(labels, support[:, 0])])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (validation images)")
    ax.set_title(f"{head}: confusion matrix, rows normalised")
    if len(labels) <= ANNOTATE_UP_TO:
        for (i, j), value in np.ndenumerate(normalised):
            if counts[i, j]:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black")
    return save_figure(fig, path)


def plot_class_distribution(counts: Mapping[str, Mapping[str, int]], source: Mapping[str, str], path: Path) -> Path:
    """One horizontal bar chart per head (log scale: the classes span orders of magnitude)."""
    fig, axes = plt.subplots(1, len(counts), figsize=(5 * len(counts), max(4.0, 0.22 * max(map(len, counts.values())))))
    for ax, (head, head_counts) in zip(np.atleast_1d(axes), counts.items()):
        ax.barh(list(head_counts), [max(n, 0) for n in head_counts.values()])
        ax.set_xscale("symlog", linthresh=1)
        ax.invert_yaxis()
        ax.set_title(f"{head} ({len(head_counts)} classes, {source[head]})")
        ax.set_xlabel("images (log scale)")
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_accuracy_curve(history: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Validation accuracy of every head and their mean against wall-clock training time."""
    minutes = [entry["elapsed_s"] / 60 for entry in history]
    fig, ax = plt.subplots(figsize=(8, 5))
    for head in history[0]["accuracy"]:
        ax.plot(minutes, [entry["accuracy"][head] for entry in history], marker="o", label=head)
    ax.plot(minutes, [entry["mean_accuracy"] for entry in history], marker="s", color="black", linewidth=2.5,
            label="mean")  # fmt: skip
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Validation accuracy per epoch vs training time")
    return save_figure(fig, path)
