"""Where train.py's time goes with mixup: the run's model (results/h100-next/model/config.json: ResNet-50, drop
path 0.05, 80x60 upscaled to 160x120), compiled, channels_last, bf16 autocast, batch 512, AdamW, as
benchmarks/train_throughput.py steps it, with and without mixup's two extra pieces (train.py's `training_loss`):
the input blended with its partner (`swap_pairs`), and the partner's loss.

    PYTHONPATH=. python results/h100-next/mixup_probe.py [ROUNDS]   (3 rounds by default, as in mixup_probe.txt)
"""

import sys
import time

import torch

from modeling import FashionResNetConfig, FashionResNetModel, multi_head_loss
from train import swap_pairs

device, batch = torch.device("cuda"), 512
config = FashionResNetConfig.from_pretrained("results/h100-next/model")
model = FashionResNetModel(config).to(device).train().to(memory_format=torch.channels_last)
forward = torch.compile(model)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
pixels = torch.randn(batch, 3, 80, 60, device=device).contiguous(memory_format=torch.channels_last)
labels = torch.stack([torch.randint(len(names), (batch,), device=device) for names in config.heads.values()], 1)


def step(blend: bool, partner_loss: bool) -> None:
    with torch.autocast("cuda", dtype=torch.bfloat16):
        inputs = pixels.lerp(swap_pairs(pixels), 0.3) if blend else pixels
        logits = forward(inputs).logits
    loss = multi_head_loss(logits, labels, 0.1)
    if partner_loss:
        loss = 0.7 * loss + 0.3 * multi_head_loss(logits, swap_pairs(labels), 0.1)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


variants = {"bare": (False, False), "blend": (True, False), "partner loss": (False, True), "mixup": (True, True)}
start = time.perf_counter()
for args in variants.values():
    for _ in range(5):
        step(*args)
torch.cuda.synchronize()
print(f"compile and warm-up: {time.perf_counter() - start:.0f} s")
for round_ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    for name, args in variants.items():
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(30):
            step(*args)
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / 30
        print(f"round {round_}: {name:13s} {seconds * 1e3:6.1f} ms per batch, {batch / seconds:8,.0f} images/s")
