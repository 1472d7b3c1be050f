"""What the host lets the pipeline reach on a GPU, estimated on the 2-core CPU here:

    PYTHONPATH=. OMP_NUM_THREADS=1 python results/h100-ema/stand_in_probe.py > results/h100-ema/stand_in_probe.txt

The network is replaced by a stand-in that takes as long as the H100's forward took (`pipeline_probe.txt`:
17.5 ms per batch of 512, normalisation, model and top-k) and returns logits of the right shapes. So the
pipeline's rate against the stand-in's own (512 images per 17.5 ms) is what the host's share leaves of the bare
forward: loading, preprocessing (in a worker process, if asked), batching and the answers. Two stand-ins:

- "waits": it sleeps in the call, as the host waited for the GPU when the pipeline copied each batch's top-k to
  the host at once (the base `Pipeline.forward`, shipped until the eleventh session);
- "queues": it returns at once, its batch done 17.5 ms later, one batch after the other, as a GPU runs queued
  kernels; a batch's call first waits for the batch before (as the copy of a batch to a GPU waits for the
  kernels queued before it), and the answers wait for their batch (the pipeline's `copied` event on a GPU). As
  shipped: the answers to one batch are built while the next one runs.

49,152 images per call, batch 512, as the benchmark in `reproduce.sh`; the garbage collector paused, as shipped.
Not simulated: the copy to the GPU (0.7 ms per batch on the H100). Then a stand-in that costs nothing: the
host's own rate, which bounds the pipeline's.
"""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace

import torch
from transformers import Pipeline

from benchmarks.common import load_images
from collector_probe import FreeModel, host_share_pipeline

H100_FORWARD_SECONDS = 0.0175  # per batch of 512 (pipeline_probe.txt)
BATCH = 512
IMAGES = 49_152


class WaitingModel(FreeModel):
    """`FreeModel`'s logits, after waiting `seconds` per batch of 512."""

    seconds = H100_FORWARD_SECONDS

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> SimpleNamespace:  # return_dict=True
        time.sleep(self.seconds * len(pixel_values) / BATCH)
        return super().forward(pixel_values)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.perf_counter()))


class QueuedModel(WaitingModel):
    """`FreeModel`'s logits at once, its wait queued as a GPU queues kernels: the queue is kept as the moment its
    last batch is done (`done_at`), not run on a thread, which would wait for Python's lock as a GPU does not."""

    done_at = 0.0

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> SimpleNamespace:  # return_dict=True
        sleep_until(self.done_at)
        self.done_at = time.perf_counter() + self.seconds * len(pixel_values) / BATCH
        return FreeModel.forward(self, pixel_values)


def queued_pipeline() -> Pipeline:
    """`host_share_pipeline(QueuedModel)`, its answers waiting for their batch, as `copied` makes them on a GPU."""
    classifier = host_share_pipeline(QueuedModel)
    shipped_forward = classifier.forward

    def forward(model_inputs: dict, **forward_params) -> dict:
        outputs = shipped_forward(model_inputs, **forward_params)
        done_at = classifier.model.done_at
        return {**outputs, "copied": SimpleNamespace(synchronize=lambda: sleep_until(done_at))}

    classifier.forward = forward
    return classifier


def main() -> None:
    images = list(itertools.islice(itertools.cycle(load_images("cache/full").images), IMAGES))
    stand_ins = {"waits": host_share_pipeline(WaitingModel), "queues": queued_pipeline()}
    for name, seconds in (("waits", H100_FORWARD_SECONDS), ("queues", H100_FORWARD_SECONDS), ("waits", 0.0)):
        classifier = stand_ins[name]
        WaitingModel.seconds = seconds
        print(f"stand-in forward: {seconds * 1e3:.1f} ms per batch of {BATCH}, {name}")
        for _ in range(3):
            for workers in (0, 1, 2):
                started = time.perf_counter()
                classifier(images, batch_size=BATCH, num_workers=workers)
                per_batch = (time.perf_counter() - started) / IMAGES * BATCH
                share = f", {seconds / per_batch:.1%} of the stand-in's rate" if seconds else ""
                print(f"  workers {workers}: {BATCH / per_batch:8,.0f} images/s, {per_batch * 1e3:5.1f} ms per batch"
                      f"{share}", flush=True)


if __name__ == "__main__":
    main()
