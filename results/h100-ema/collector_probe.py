"""The pipeline's host time per image with Python's garbage collector paused during a call (as shipped) and
running (as before), alternating in one process. Run on the 2-core CPU here, not the H100:

    PYTHONPATH=. OMP_NUM_THREADS=1 python results/h100-ema/collector_probe.py > results/h100-ema/collector_probe.txt

The network is replaced by a stand-in that returns logits of the right shapes at no cost, and normalisation
(on the GPU, a device op) is skipped, so what is timed is the host's share on a GPU: loading, preprocessing,
batching and the answers. 49,152 images per call, the validation photos cycled through, as the benchmark does.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from transformers import Pipeline

from benchmarks.common import load_images, load_pipeline
from pipeline_probe import random_weight_folder


class FreeModel(torch.nn.Module):
    """Logits of the right shapes for each head, at no cost."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config, self.dtype = config, torch.float32

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> SimpleNamespace:  # return_dict=True
        return SimpleNamespace(logits={head: torch.randn(len(pixel_values), len(labels))
                                       for head, labels in self.config.heads.items()})


def host_share_pipeline(stand_in: type[torch.nn.Module] = FreeModel) -> Pipeline:
    """The shipped pipeline on the CPU with the network replaced by `stand_in` and normalisation skipped: on a
    GPU, both are device work."""
    classifier = load_pipeline(random_weight_folder(Path(tempfile.mkdtemp()) / "model"), torch.device("cpu"))
    classifier.model = stand_in(classifier.model.config)
    classifier.image_processor.normalize = lambda pixels, dtype=None: pixels
    return classifier


def main() -> None:
    classifier = host_share_pipeline()
    module = sys.modules[type(classifier).__module__]
    shipped = module.collector_paused

    full = {"count": 0, "seconds": 0.0, "started": 0.0}

    def watch(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                full["started"] = time.perf_counter()
            else:
                full["count"] += 1
                full["seconds"] += time.perf_counter() - full["started"]

    gc.callbacks.append(watch)
    images = list(itertools.islice(itertools.cycle(load_images("cache/full").images), 49_152))
    print(f"objects tracked by the collector: {len(gc.get_objects()):,}")
    for _ in range(4):
        for name, pause in (("paused (as shipped)", shipped), ("running", contextlib.nullcontext)):
            module.collector_paused = pause
            full.update(count=0, seconds=0.0)
            started = time.perf_counter()
            classifier(images, batch_size=512)
            seconds = time.perf_counter() - started
            print(f"collector {name:20s}: {seconds / len(images) * 1e6:5.1f} us per image; "
                  f"{full['count']} full collections in the call, {full['seconds']:.2f} s", flush=True)


if __name__ == "__main__":
    main()
