"""Does averaging with the mirror image help? A saved model's validation accuracy per head from its logits
alone, from those of the horizontally flipped photos, and from the mean of both softmaxes.

    HF_HUB_OFFLINE=1 PYTHONPATH=. python results/cpu-quarter-resnet18-40epochs/flip_probe.py MODEL_FOLDER

on `cache/full`'s validation split (prepared as in results/README.md), photos fit as train.py fits them.
"""

import sys
from pathlib import Path

import torch
from transformers import AutoImageProcessor, AutoModel

from data_scripts.prepare import load_prepared
from train import encode_split

model_folder = sys.argv[1]
model = AutoModel.from_pretrained(model_folder, trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained(model_folder, trust_remote_code=True)
validation = load_prepared("cache/full")["validation"]
valid = encode_split(validation, processor, Path("cache/decoded"))  # decoded where train.py decodes it
probabilities = {"plain": [], "flipped": []}
with torch.inference_mode():
    for start in range(0, len(valid["pixels"]), 512):
        pixels = processor.normalize(valid["pixels"][start : start + 512])
        for name, view in (("plain", pixels), ("flipped", pixels.flip(-1))):
            probabilities[name].append({head: logits.softmax(-1) for head, logits in model(view).logits.items()})
for column, head in enumerate(model.config.heads):
    known = valid["labels"][:, column] >= 0
    labels = valid["labels"][known, column]
    plain, flipped = (torch.cat([batch[head] for batch in probabilities[name]])[known] for name in ("plain", "flipped"))
    accuracy = {name: 100 * (p.argmax(-1) == labels).float().mean().item()
                for name, p in (("plain", plain), ("flipped", flipped), ("averaged", plain + flipped))}
    print(f"{head:12s}" + "".join(f"  {name} {value:.2f} %" for name, value in accuracy.items()))
