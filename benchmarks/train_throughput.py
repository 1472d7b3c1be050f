"""Training throughput: the bare model's ceiling vs train.py end to end, in one process on one device.

    python -m benchmarks.train_throughput --preset h100 --dataset cache/full --output results/x/train_throughput.json
    python -m benchmarks.train_throughput --architecture test_resnet --batch-size 32 --epochs 2     # CPU smoke run

(1) bare: forward + backward + AdamW step of the same architecture, heads, resolution, batch size, memory
format, precision (bf16 autocast on CUDA) and compile setting, on one synthetic batch already on the device:
what the model itself allows. (2) train.py: `train.main` for a few epochs on a prepared dataset; its last
epoch's `train_images_per_s` (training steps only, after compile warm-up). Issue 5 asks for (2) >= 85 % of (1).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import tempfile
from pathlib import Path

import torch

import train
from benchmarks.common import autocast, environment, images_per_second, pick_device, write_json
from modeling import FashionResNetConfig, FashionResNetModel, multi_head_loss

TARGET_RATIO = 0.85


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(train.PRESETS), help="train.py preset to start from")
    parser.add_argument("--dataset", default="data/sample", help="prepared folder (or Kaggle folder) for train.py")
    parser.add_argument("--output", type=Path, help="JSON file to write")
    parser.add_argument("--cache-dir", default="cache", help="train.py's decoded-image cache (reused across runs)")
    parser.add_argument("--train-output-dir", help="keep train.py's model folder here (default: a temporary one)")
    # Overrides of the preset; None keeps the preset's (or TrainConfig's) value.
    parser.add_argument("--architecture")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--image-height", type=int)
    parser.add_argument("--image-width", type=int)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--epochs", type=int, default=3, help="train.py epochs; the last one is the steady state")
    parser.add_argument("--warmup", type=int, default=10, help="untimed bare steps (compilation, autotuning)")
    parser.add_argument("--steps", type=int, default=50, help="timed bare steps")
    return parser.parse_args(argv)


def train_config(args: argparse.Namespace, output_dir: str) -> train.TrainConfig:
    """train.py's configuration: the preset, then the flags given; random init (no download, issue 5 is
    from scratch)."""
    overrides = {name: getattr(args, name) for name in ("architecture", "batch_size", "image_height", "image_width",
                                                         "compile") if getattr(args, name) is not None}
    return train.TrainConfig(**{**train.PRESETS.get(args.preset, {}), **overrides, "epochs": args.epochs,
                                "dataset": args.dataset, "cache_dir": args.cache_dir, "output_dir": output_dir,
                                "backbone_weights": "none", "preset": args.preset})


def bare_training_rate(config: train.TrainConfig, heads: dict[str, list[str]], device: torch.device,
                       warmup: int, steps: int) -> float:
    """Images/s of forward + `multi_head_loss` + backward + AdamW on a fixed on-device batch, as train.py steps."""
    model = FashionResNetModel(FashionResNetConfig(architecture=config.architecture, heads=heads,
                                                   drop_rate=config.drop_rate)).to(device).train()
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    forward = torch.compile(model) if config.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    size = (config.batch_size, 3, config.image_height, config.image_width)
    pixels = torch.randn(size, device=device).contiguous(memory_format=memory_format)
    labels = torch.stack([torch.randint(len(names), (config.batch_size,), device=device) for names in heads.values()],
                         dim=1)

    def step() -> None:
        with autocast(device):
            logits = forward(pixels).logits
        multi_head_loss(logits, labels, config.label_smoothing).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return images_per_second(step, config.batch_size, warmup, steps, device, "bare model training")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = pick_device()
    # train.main's Accelerator reads its precision from here when not started by `accelerate launch`.
    os.environ.setdefault("ACCELERATE_MIXED_PRECISION", "bf16" if device.type == "cuda" else "no")
    with tempfile.TemporaryDirectory() as scratch:
        config = train_config(args, args.train_output_dir or scratch)
        splits = train.load_splits(config.dataset, Path(config.cache_dir))
        heads = {head: splits["train"].features[head].names for head in train.data_scripts.HEADS}
        bare = bare_training_rate(config, heads, device, args.warmup, args.steps)
        torch._dynamo.reset()  # free the bare model's compiled graphs and memory before train.py starts
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        output_dir = train.main(config)
        history = json.loads((output_dir / "metrics.json").read_text())["history"]
        mixed_precision = json.loads((output_dir / "training.json").read_text())["mixed_precision"]
    end_to_end = history[-1]["train_images_per_s"]
    result = {
        "settings": {"architecture": config.architecture, "image_height": config.image_height,
                     "image_width": config.image_width, "batch_size": config.batch_size,
                     "channels_last": config.channels_last, "compile": config.compile,
                     "mixed_precision": mixed_precision, "dataset": config.dataset,
                     "epochs": config.epochs, "bare_warmup_steps": args.warmup, "bare_timed_steps": args.steps},
        "bare_images_per_s": round(bare, 1),
        "train_py_images_per_s": end_to_end,
        "train_py_images_per_s_by_epoch": [entry["train_images_per_s"] for entry in history],
        "ratio": round(end_to_end / bare, 4),
        "target_ratio": TARGET_RATIO,
        **environment(device),
    }
    print(f"bare model training: {bare:,.0f} images/s\n"
          f"train.py (epoch {len(history)} of {len(history)}): {end_to_end:,.0f} images/s\n"
          f"ratio: {result['ratio']:.1%} (issue 5 target: >= {TARGET_RATIO:.0%}) on {result['device']}")
    write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
