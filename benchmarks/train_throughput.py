"""Training throughput: a finished train.py run against the bare model's ceiling, on the same device.

    python -m benchmarks.train_throughput --run results/x/model --output results/x/train_throughput.json

(1) train.py: the run's per-epoch `train_images_per_s` from its metrics.json (training steps only: evaluation,
checkpoints and compilation are outside it), the median over epochs. (2) bare: forward + backward + AdamW of the
same architecture, heads, image and input sizes, batch size, gradient accumulation, memory format, precision
(fp16 with loss scaling) and compile setting (all read from the run's training.json and config.json; on a CPU, as
many threads unless OMP_NUM_THREADS is set), on one synthetic batch already on the device: what the model itself
allows. Run it on the machine that trained.
Issue 5 asks for (1) >= 85 % of (2).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
from pathlib import Path

import torch

import train
from benchmarks.common import against_bare, autocast, images_per_second, pick_device, write_json
from modeling import FashionResNetConfig, FashionResNetModel, multi_head_loss

TARGET_RATIO = 0.85


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="train.py's output folder")
    parser.add_argument("--output", type=Path, help="JSON file to write")
    parser.add_argument("--warmup", type=int, default=10, help="untimed bare steps (compilation, autotuning)")
    parser.add_argument("--steps", type=int, default=50, help="timed bare steps")
    return parser.parse_args(argv)


def bare_training_rate(config: train.TrainConfig, model_config: FashionResNetConfig, mixed_precision: str,
                       device: torch.device, warmup: int, steps: int) -> float:
    """Images/s of forward + `multi_head_loss` + backward + AdamW on a fixed on-device batch, as train.py steps."""
    model = FashionResNetModel(model_config).to(device).train()
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    forward = torch.compile(model) if config.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    size = (config.batch_size, 3, config.image_height, config.image_width)
    pixels = torch.randn(size, device=device).contiguous(memory_format=memory_format)
    labels = torch.stack([torch.randint(len(names), (config.batch_size,), device=device)
                          for names in model_config.heads.values()], dim=1)

    scaler = torch.amp.GradScaler(device.type, enabled=mixed_precision == "fp16")  # as accelerate scales fp16
    batches = itertools.count(1)

    def step() -> None:
        with autocast(device, mixed_precision):
            logits = forward(pixels).logits
        scaler.scale(multi_head_loss(logits, labels, config.label_smoothing)).backward()
        if next(batches) % config.gradient_accumulation_steps == 0:  # one update per accumulated batches, as train.py
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)

    return images_per_second(step, config.batch_size, warmup, steps, device, "bare model training")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    training = json.loads((args.run / "training.json").read_text())
    history = json.loads((args.run / "metrics.json").read_text())["history"]
    config = train.TrainConfig(**training["hyperparameters"])
    model_config = FashionResNetConfig.from_pretrained(args.run)
    device = torch.device("cpu") if training["hardware"].startswith("CPU") else pick_device()
    if train.hardware(device) != training["hardware"] or training["num_processes"] != 1:
        raise SystemExit(f"{args.run} was trained on {training['num_processes']} x {training['hardware']}; this "
                         f"benchmark runs on one {train.hardware(device)}: the ratio would compare different hardware")
    if device.type == "cpu" and "torch_threads" in training and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(training["torch_threads"])  # as many as the run had: a ratio of like with like
    bare = bare_training_rate(config, model_config, training["mixed_precision"], device, args.warmup, args.steps)
    by_epoch = [entry["train_images_per_s"] for entry in history]
    end_to_end = statistics.median(by_epoch)
    settings = {"run": str(args.run), "architecture": config.architecture, "image_height": config.image_height,
                "image_width": config.image_width, "input_size": model_config.input_size,
                "batch_size": config.batch_size, "channels_last": config.channels_last, "compile": config.compile,
                "mixed_precision": training["mixed_precision"], "dataset": config.dataset, "epochs": len(history),
                "torch_threads": torch.get_num_threads(), "bare_warmup_steps": args.warmup,
                "bare_timed_steps": args.steps}
    result = against_bare(settings, bare, "train_py_images_per_s", end_to_end, TARGET_RATIO, device,
                          ("bare model training", f"train.py (median of {len(history)} epochs)"),
                          train_py_images_per_s_by_epoch=by_epoch)
    write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
