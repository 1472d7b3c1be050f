"""Builds a training output folder (docs/output_folder.md) for the tests of model_card, push_to_hub, predict
and app: a tiny `test_resnet` model trained for a few steps on the fixture images, saved as train.py saves
it, with metrics.json computed from that model's real predictions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import evaluate
import numpy as np
import torch
from transformers import pipeline

from modeling import TASK, FashionImageProcessor, FashionResNetConfig, FashionResNetModel, multi_head_loss

FIXTURE_IMAGES = Path(__file__).parent / "fixtures" / "images"
HEAD_METRICS = str(Path(__file__).parents[1] / "metrics" / "head_metrics")

# The fixture images' labels, from the dataset's styles.csv.
FIXTURE_LABELS = {
    "1163.jpg": {"articleType": "Tshirts", "baseColour": "Blue", "season": "Summer", "usage": "Sports"},
    "1525.jpg": {"articleType": "Backpacks", "baseColour": "Navy Blue", "season": "Fall", "usage": "Casual"},
    "15970.jpg": {"articleType": "Shirts", "baseColour": "Navy Blue", "season": "Fall", "usage": "Casual"},
    "1799.jpg": {"articleType": "Track Pants", "baseColour": "White", "season": "Summer", "usage": "Sports"},
    "21379.jpg": {"articleType": "Track Pants", "baseColour": "Black", "season": "Fall", "usage": "Casual"},
    "39386.jpg": {"articleType": "Jeans", "baseColour": "Blue", "season": "Summer", "usage": "Casual"},
    "7542.jpg": {"articleType": "Shorts", "baseColour": "White", "season": "Summer", "usage": "Sports"},
}
# One class per head that no fixture image has: a label with support 0, as a rare class can have.
UNSEEN_LABELS = {"articleType": "Socks", "baseColour": "Red", "season": "Winter", "usage": "Formal"}
EPOCHS = 2


def fixture_paths() -> list[Path]:
    """The labelled fixture images, in a fixed order."""
    return [FIXTURE_IMAGES / name for name in sorted(FIXTURE_LABELS)]


def fixture_heads() -> dict[str, list[str]]:
    """head -> labels: the fixture images' classes plus one unseen class."""
    return {
        head: sorted({labels[head] for labels in FIXTURE_LABELS.values()} | {unseen})
        for head, unseen in UNSEEN_LABELS.items()
    }


def _evaluate(model: FashionResNetModel, pixels: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict:
    model.eval()
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
    metric = evaluate.load(HEAD_METRICS)  # train.py's
    return {
        head: metric.compute(predictions=logits[head].argmax(-1), references=targets[head], labels=labels)
        for head, labels in model.config.heads.items()
    }


def _dataset_summary(heads: dict[str, list[str]]) -> dict:
    """The cleaning_summary.json fields the card reads; the fixture images are both splits."""
    counts = {head: {label: 0 for label in labels} for head, labels in heads.items()}
    for labels in FIXTURE_LABELS.values():
        for head, label in labels.items():
            counts[head][label] += 1
    split = {"rows": len(FIXTURE_LABELS), "class_counts": counts}
    # As the cleaning of tests/fixtures/data finds them (tests/test_data_prepare.py).
    repeated = {"images": 2, "labelled_differently": 1, "differing_heads": {"baseColour": 1}}
    return {"source": "/data/fashion-product-images-small", "source_name": "fashion-product-images-small",
            "seed": 0, "validation_fraction": 0.25, "sample": None, "rows_read": 12, "dropped": 4,
            "classes": heads, "repeated_images": repeated, "splits": {"train": split, "validation": split}}


def build_output_folder(folder: Path, with_dataset_summary: bool = True) -> Path:
    """Train a tiny model for `EPOCHS` steps on the fixture images and write a full output folder."""
    torch.manual_seed(0)
    heads = fixture_heads()
    model = FashionResNetModel(FashionResNetConfig(architecture="test_resnet", heads=heads))
    processor = FashionImageProcessor()
    paths = fixture_paths()
    pixels = processor([str(p) for p in paths])["pixel_values"]
    targets = {
        head: torch.tensor([labels.index(FIXTURE_LABELS[path.name][head]) for path in paths])
        for head, labels in heads.items()
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    start, history = time.perf_counter(), []
    for epoch in range(1, EPOCHS + 1):
        model.train()
        loss = multi_head_loss(model(pixel_values=pixels).logits, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        evaluation = _evaluate(model, pixels, targets)
        accuracy = {head: m["accuracy"] for head, m in evaluation.items()}
        history.append({
            "epoch": epoch,
            "elapsed_s": time.perf_counter() - start,
            "train_loss": loss.item(),
            "mean_accuracy": float(np.mean(list(accuracy.values()))),
            "accuracy": accuracy,
            "macro_f1": {head: m["macro_f1"] for head, m in evaluation.items()},
        })  # fmt: skip
    metrics = {
        "split": "validation",
        "num_examples": len(paths),
        "best_epoch": EPOCHS,  # the last epoch is the one saved
        "mean_accuracy": history[-1]["mean_accuracy"],
        "heads": evaluation,
        "history": history,
    }
    training = {
        "hyperparameters": {"epochs": EPOCHS, "batch_size": len(paths), "lr": 1e-2, "optimizer": "adam"},
        "backbone_init": "random",
        "dataset": "tests/fixtures/images",
        "train_examples": len(paths),
        "validation_examples": len(paths),
        "train_seconds": history[-1]["elapsed_s"],
        "hardware": "1 x CPU (test)",
        "num_processes": 1,
        "mixed_precision": "no",
        "library_versions": {"torch": torch.__version__},
        "command": "tests/helpers_output.py",
    }
    folder.mkdir(parents=True, exist_ok=True)
    pipeline(TASK, model=model, image_processor=processor).save_pretrained(folder)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (folder / "training.json").write_text(json.dumps(training, indent=1))
    if with_dataset_summary:
        (folder / "dataset_summary.json").write_text(json.dumps(_dataset_summary(heads), indent=1))
    return folder


def save_other_image_classifier(folder: Path, monkeypatch) -> Path:
    """A tiny transformers image classifier (a ViT) saved to `folder`, which `pipeline(model=folder)` loads as
    transformers' own image-classification pipeline, as it does a Hub repo of one (the Hub, asked for its task
    offline, answers through the patched `get_task`)."""
    import transformers.pipelines
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=32,
                       patch_size=8, num_labels=3)  # fmt: skip
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    monkeypatch.setattr(transformers.pipelines, "get_task", lambda *args, **kwargs: "image-classification")
    return folder
