"""What the host lets the pipeline reach on a GPU, estimated on the 2-core CPU here:

    PYTHONPATH=. OMP_NUM_THREADS=1 python results/h100-ema/stand_in_probe.py > results/h100-ema/stand_in_probe.txt

The network is replaced by a stand-in that waits as long as the H100's forward took (`pipeline_probe.txt`:
17.5 ms per batch of 512, normalisation, model and top-k) and returns logits of the right shapes: while a GPU
runs, the host waits, as here. So the pipeline's rate against the stand-in's own (512 images per 17.5 ms) is
what the host's share leaves of the bare forward: loading, preprocessing (in a worker process, if asked),
batching and the answers. 49,152 images per call, batch 512, as the benchmark in `reproduce.sh`; the garbage
collector paused, as shipped. Not simulated: the copy to the GPU (0.7 ms per batch on the H100). Then the same
with a stand-in that costs nothing: the host's own rate, which bounds the pipeline's.
"""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace

import torch

from benchmarks.common import load_images
from collector_probe import FreeModel, host_share_pipeline

H100_FORWARD_SECONDS = 0.0175  # per batch of 512 (pipeline_probe.txt)
BATCH = 512
IMAGES = 49_152


class WaitingModel(FreeModel):
    """`FreeModel`'s logits, after waiting `seconds` per batch of 512."""

    seconds = H100_FORWARD_SECONDS

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        time.sleep(self.seconds * len(pixel_values) / BATCH)
        return super().forward(pixel_values)


def main() -> None:
    classifier = host_share_pipeline(WaitingModel)
    images = list(itertools.islice(itertools.cycle(load_images("cache/full").images), IMAGES))
    for seconds in (H100_FORWARD_SECONDS, 0.0):
        WaitingModel.seconds = seconds
        print(f"stand-in forward: {seconds * 1e3:.1f} ms per batch of {BATCH}")
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
