"""Reading a training output folder (docs/output_folder.md) and the figures the card derives from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ClassStat", "ConfusedPair", "HeadSummary", "TrainingResults", "load_results", "summarise_head"]

RARE_CLASSES_LISTED = 5
CONFUSED_PAIRS_LISTED = 3


@dataclass(frozen=True)
class TrainingResults:
    """Everything train.py wrote that the card reports; labels come from config.json `heads`."""

    folder: Path
    architecture: str  # the timm backbone
    heads: dict[str, list[str]]
    metrics: dict[str, Any]
    training: dict[str, Any]
    dataset_summary: dict[str, Any] | None
    image_size: dict[str, int]  # the processor's output size, {"height": ..., "width": ...}
    input_size: list[int] | None  # [height, width] the model upscales that to before the backbone, if set


@dataclass(frozen=True)
class ClassStat:
    label: str
    count: int  # examples in the split the distribution is taken from
    accuracy: float | None  # validation accuracy; None without validation support
    support: int  # validation examples


@dataclass(frozen=True)
class ConfusedPair:
    labels: tuple[str, str]
    errors: int  # validation images of either class answered as the other
    share: float  # of all the head's validation errors


@dataclass(frozen=True)
class HeadSummary:
    name: str
    num_classes: int
    accuracy: float
    macro_f1: float
    majority_baseline: float | None  # accuracy of always answering the most frequent validation class
    distribution_source: str  # which split the class counts come from
    imbalance_ratio: float | None  # largest / smallest non-empty class
    empty_classes: list[str]  # classes with no example in that split
    rarest: list[ClassStat]
    worst: list[ClassStat]  # lowest validation accuracy first
    confused: list[ConfusedPair]  # most errors first


def _read_json(path: Path) -> dict[str, Any]:
    """A record of the output folder, or a ValueError naming it and what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file (not a training output folder, or a run that has not finished: "
                         "docs/output_folder.md)") from None
    except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON (a copy cut short)
        raise ValueError(f"{path}: {error}") from error


def load_results(folder: str | Path) -> TrainingResults:
    """Read config.json, preprocessor_config.json, metrics.json, training.json and, when present,
    dataset_summary.json."""
    folder = Path(folder)
    summary_path = folder / "dataset_summary.json"
    config = _read_json(folder / "config.json")
    image_size = _read_json(folder / "preprocessor_config.json")["size"]
    input_size = config.get("input_size")
    if input_size == [image_size["height"], image_size["width"]]:
        input_size = None  # the backbone sees the photos as the processor fits them: nothing is upscaled
    return TrainingResults(
        folder=folder,
        architecture=config["architecture"],
        heads=config["heads"],
        metrics=_read_json(folder / "metrics.json"),
        training=_read_json(folder / "training.json"),
        dataset_summary=_read_json(summary_path) if summary_path.is_file() else None,
        image_size=image_size,
        input_size=input_size,
    )


def class_counts(results: TrainingResults, head: str) -> tuple[dict[str, int], str]:
    """Per-label example counts and where they come from: the training split of the dataset summary
    (what the model learnt from) when there is one, else the validation support in metrics.json."""
    labels = results.heads[head]
    if results.dataset_summary is not None:
        counts = results.dataset_summary["splits"]["train"]["class_counts"][head]
        return {label: int(counts.get(label, 0)) for label in labels}, "training split"
    per_class = results.metrics["heads"][head]["per_class"]
    return {label: int(per_class[label]["support"]) for label in labels}, "validation split"


def confused_pairs(labels: list[str], matrix: list[list[int]], limit: int) -> list[ConfusedPair]:
    """The pairs of classes answered as each other most often (both ways), from a confusion matrix."""
    errors = sum(sum(row) for row in matrix) - sum(matrix[i][i] for i in range(len(matrix)))
    pairs = [(matrix[a][b] + matrix[b][a], a, b) for a in range(len(matrix)) for b in range(a + 1, len(matrix))]
    pairs.sort(key=lambda pair: -pair[0])  # stable: ties stay in label order
    return [ConfusedPair((labels[a], labels[b]), count, count / errors) for count, a, b in pairs[:limit] if count]


def summarise_head(results: TrainingResults, head: str) -> HeadSummary:
    """Accuracy, macro-F1, baseline, imbalance and the classes that suffer from it, for one head."""
    head_metrics = results.metrics["heads"][head]
    per_class = head_metrics["per_class"]
    counts, source = class_counts(results, head)
    stats = [
        ClassStat(label, counts[label], per_class[label]["accuracy"], int(per_class[label]["support"]))
        for label in results.heads[head]
    ]
    total_support = sum(stat.support for stat in stats)
    non_empty = [stat.count for stat in stats if stat.count > 0]
    evaluated = [stat for stat in stats if stat.accuracy is not None]
    return HeadSummary(
        name=head,
        num_classes=len(stats),
        accuracy=head_metrics["accuracy"],
        macro_f1=head_metrics["macro_f1"],
        majority_baseline=max(stat.support for stat in stats) / total_support if total_support else None,
        distribution_source=source,
        imbalance_ratio=max(non_empty) / min(non_empty) if non_empty else None,
        empty_classes=[stat.label for stat in stats if stat.count == 0],
        rarest=sorted((s for s in stats if s.count > 0), key=lambda s: s.count)[:RARE_CLASSES_LISTED],
        worst=sorted(evaluated, key=lambda s: (s.accuracy, s.count))[:RARE_CLASSES_LISTED],
        confused=confused_pairs(results.heads[head], head_metrics["confusion_matrix"], CONFUSED_PAIRS_LISTED),
    )
