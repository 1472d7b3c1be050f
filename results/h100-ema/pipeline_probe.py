"""Where the pipeline's time goes on the GPU, stage by stage, against the bare forward.

    python results/h100-ema/pipeline_probe.py [MODEL_DIR] > results/h100-ema/pipeline_probe.txt

The benchmark (`benchmarks.inference_throughput`) gave the pipeline 41 % of the bare forward on the H100. This
probe times, per batch of 512 validation photos, each stage of one pipeline call on its own (the GPU synchronised
around each), then whole calls with several worker counts and batch sizes. Without MODEL_DIR, it builds a
ResNet-50 with random weights and this run's heads, input size and processor: speed does not depend on the
weights, and the weights need not travel to the lent machine.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import pipeline

import modeling
from benchmarks.common import autocast, load_images, load_pipeline, pick_device
from modeling import FashionImageProcessor, FashionResNetConfig, FashionResNetModel, load_rgb_image

RUN = Path(__file__).resolve().parent / "model"
BATCH = 512
WHOLE_CALL_IMAGES = 16_384


def random_weight_folder(folder: Path) -> Path:
    """A pipeline folder as train.py saves one (weights, config, processor, code), with random weights."""
    trained = FashionResNetConfig.from_pretrained(RUN)
    model = FashionResNetModel(FashionResNetConfig(architecture=trained.architecture, heads=trained.heads,
                                                   input_size=trained.input_size))
    pipeline(modeling.TASK, model=model, image_processor=FashionImageProcessor.from_pretrained(RUN)).save_pretrained(folder)
    return folder


def median_ms(work: Callable[[], object], device: torch.device, repeats: int = 20) -> float:
    """Median wall time of `work` in ms, the GPU synchronised before and after each run (after 3 untimed)."""
    times = []
    for index in range(repeats + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index >= 3:
            times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def main() -> None:
    device = pick_device()
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else random_weight_folder(Path(tempfile.mkdtemp()) / "model")
    classifier = load_pipeline(folder, device)
    model, size = classifier.model.eval(), classifier.image_processor.size
    photos = load_images("cache/full").images
    batch = photos[:BATCH]
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; batch {BATCH}; "
          f"{model.dtype}; input {size['height']}x{size['width']} -> {model.config.input_size}")

    inputs = classifier.preprocess(batch)
    on_device = classifier._ensure_tensor_on_device(inputs, device=device)
    with torch.inference_mode():
        outputs = classifier._forward(on_device)
    on_host = classifier._ensure_tensor_on_device(outputs, device=torch.device("cpu"))
    pixels = torch.randn(BATCH, 3, size["height"], size["width"], device=device).contiguous(
        memory_format=torch.channels_last)

    def bare() -> None:
        with torch.no_grad(), autocast(device):
            model(pixels)

    def bare_async(steps: int = 10) -> None:
        for _ in range(steps):
            bare()

    def pipeline_forward() -> None:
        with torch.inference_mode():
            classifier._forward(on_device)

    stages = {
        f"load_rgb_image x{BATCH} (main process)": lambda: [load_rgb_image(photo) for photo in batch],
        "preprocess (processor fit, uint8; in the workers when num_workers > 0)": lambda: classifier.preprocess(batch),
        "host -> device (uint8 pixels)": lambda: classifier._ensure_tensor_on_device(inputs, device=device),
        "_forward: normalise + model + softmax/top-k": pipeline_forward,
        "device -> host (top-k)": lambda: classifier._ensure_tensor_on_device(outputs, device=torch.device("cpu")),
        "postprocess (answer dicts)": lambda: classifier.postprocess({"best": on_host, "copied": None}),
        "forward (the three above it; queued, then waited for here)": lambda: classifier.forward(inputs),
        "bare forward, synchronised each batch": bare,
    }
    print(f"\nper batch of {BATCH}, median of 20 (ms):")
    for name, work in stages.items():
        print(f"  {median_ms(work, device):8.2f}  {name}")
    print(f"  {median_ms(bare_async, device, repeats=5) / 10:8.2f}  bare forward, 10 batches queued, per batch")

    print(f"\nwhole calls, {WHOLE_CALL_IMAGES:,} images (the validation photos cycled through):")
    images = list(itertools.islice(itertools.cycle(photos), WHOLE_CALL_IMAGES))
    for workers, batch_size in ((0, 512), (4, 512), (8, 512), (14, 512), (8, 1024), (14, 1024)):
        classifier(images[: 2 * batch_size], batch_size=batch_size, num_workers=workers)
        started = time.perf_counter()
        classifier(images, batch_size=batch_size, num_workers=workers)
        seconds = time.perf_counter() - started
        print(f"  workers {workers:2d}, batch {batch_size:4d}: {len(images) / seconds:8,.0f} images/s, "
              f"{seconds / len(images) * batch_size * 1e3:6.1f} ms per batch", flush=True)


if __name__ == "__main__":
    main()
