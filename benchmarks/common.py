"""What the benchmark scripts share: device, timing, validation images, the saved pipeline, JSON out."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL.Image
import torch
from datasets import Image
from tqdm.auto import tqdm
from transformers import Pipeline, pipeline

import data_scripts
from data_scripts.prepare import embedded_image, load_prepared
from modeling import TASK, load_rgb_image
from train import hardware, library_versions, synchronized_seconds

def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device, mixed_precision: str | None = None) -> contextlib.AbstractContextManager:
    """Autocast as `accelerate launch --mixed_precision {no,bf16,fp16}`; by default bf16 on CUDA, none elsewhere."""
    if mixed_precision is None:
        mixed_precision = "bf16" if device.type == "cuda" else "no"
    if mixed_precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[mixed_precision])


def images_per_second(step: Callable[[], Any], images_per_step: int, warmup: int, steps: int,
                      device: torch.device, desc: str) -> float:
    """Run `step` `warmup` times untimed (compilation, cuDNN autotuning), then `steps` times timed."""
    for _ in tqdm(range(warmup), desc=f"{desc} (warmup)", unit="step", leave=False):
        step()
    seconds = synchronized_seconds(lambda: [step() for _ in tqdm(range(steps), desc=desc, unit="step", leave=False)],
                                   device)
    return steps * images_per_step / seconds


def environment(device: torch.device) -> dict[str, Any]:
    """Which machine and libraries produced a figure."""
    name = hardware(device)
    if device.type == "cpu":
        name = f"{name.removesuffix(')')}, {torch.get_num_threads()} torch threads)"
    return {"device": name, "library_versions": library_versions()}


def model_benchmark_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark that runs a saved model on a prepared dataset's validation images."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model folder (train.py output)")
    parser.add_argument("--dataset", default="data/sample", help="prepared dataset: its validation split is used")
    parser.add_argument("--output", type=Path, help="JSON file to write")
    return parser


def against_bare(settings: dict[str, Any], bare: float, measured_key: str, measured: float, target: float,
                 device: torch.device, descriptions: tuple[str, str], **extra: Any) -> dict[str, Any]:
    """A throughput result: the bare model's images/s, the measured images/s (under `measured_key`), their ratio
    against the issue 5 target and the environment; prints the two figures (`descriptions`) and the ratio."""
    result = {"settings": settings, "bare_images_per_s": round(bare, 1), measured_key: measured, **extra,
              "ratio": round(measured / bare, 4), "target_ratio": target, **environment(device)}
    bare_what, measured_what = descriptions
    print(f"{bare_what}: {bare:,.0f} images/s\n{measured_what}: {measured:,.0f} images/s\n"
          f"ratio: {result['ratio']:.1%} (issue 5 target: >= {target:.0%}) on {result['device']}")
    return result


def write_json(path: str | Path | None, data: dict[str, Any]) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' -> (width, height), PIL's order."""
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


@dataclass
class LabelledImages:
    """Decoded RGB images of one split with their labels; -1 marks a missing label."""

    images: list[PIL.Image.Image]
    labels: dict[str, list[int]]
    names: dict[str, list[str]]


def load_images(dataset: str, split: str = "validation", limit: int | None = None) -> LabelledImages:
    """Decode (up to `limit` of) a prepared split into PIL images, so that timed code never decodes files."""
    data = load_prepared(dataset)[split]
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    raw = data.cast_column("image", Image(decode=False))["image"]
    images = [load_rgb_image(embedded_image(item)) for item in tqdm(raw, desc=f"decoding {split}", unit="img")]
    heads = data_scripts.HEADS
    return LabelledImages(images, {head: data[head] for head in heads},
                          {head: data.features[head].names for head in heads})


def load_pipeline(model_dir: str | Path, device: torch.device, channels_last: bool = True,
                  dtype: torch.dtype | None = None) -> Pipeline:
    """The saved `fashion-attributes` pipeline as a user loads it: its own code and processor, with weights in
    `dtype` (by default bf16 on CUDA, fp32 elsewhere)."""
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    classifier = pipeline(TASK, model=str(model_dir), trust_remote_code=True, device=device, dtype=dtype)
    if channels_last:
        classifier.model.to(memory_format=torch.channels_last)
    return classifier
