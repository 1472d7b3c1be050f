"""Does the pipeline gain on the GPU from copying its batches there from pinned memory, without waiting?

    git show 4bbc928:modeling/pipeline_fashion_attributes.py > BEFORE.py   # the pipeline before the change
    PYTHONPATH=. python3 results/h100-preset/pinned_probe.py BEFORE.py [ROUNDS [IMAGES]] \
        > results/h100-preset/pinned_probe.txt

Before the change, each batch's copy to the GPU came from pageable memory: a blocking copy, queued behind the
batch before, so the host waited until the GPU had finished that batch before it could queue the next. Now
(`modeling/pipeline_fashion_attributes.py`) the batches come pinned and their copy is only queued. The probe runs
`benchmarks.inference_throughput` as issue 5's runs do (batch 512, 8 workers) on two folders alike but for the
pipeline's code, before and now, alternating, ROUNDS times each (default 3), IMAGES images per call (default
49,152). A ResNet-50 with random weights and `h100-ema/`'s heads, input size and processor: speed does not depend
on the weights.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks import inference_throughput

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "h100-ema"))
from pipeline_probe import random_weight_folder  # noqa: E402  (a sibling record's helper, not a package)


def main() -> None:
    before_code = Path(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    images = sys.argv[3] if len(sys.argv) > 3 else "49152"
    root = Path(tempfile.mkdtemp())
    now = random_weight_folder(root / "now")
    before = Path(shutil.copytree(now, root / "before"))
    shutil.copy(before_code, before / "pipeline_fashion_attributes.py")
    for round_ in range(1, rounds + 1):
        for name, folder in (("before (pageable)", before), ("now (pinned)", now)):
            result = inference_throughput.main(["--model", str(folder), "--dataset", "cache/full", "--batch-size",
                                                "512", "--num-images", images, "--num-workers", "8"])
            print(f"round {round_}, {name}: pipeline {result['pipeline_images_per_s']:,.0f} images/s, bare forward "
                  f"{result['bare_images_per_s']:,.0f}: {result['ratio']:.1%}", flush=True)


if __name__ == "__main__":
    main()
