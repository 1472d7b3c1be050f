"""How far is one model from what several give together? Each saved model's validation accuracy per head,
and that of the mean of their softmaxes (an ensemble: the ceiling a teacher made of them would offer).

    HF_HUB_OFFLINE=1 PYTHONPATH=. python results/cpu-quarter-resnet18-40epochs/ensemble_probe.py MODEL_FOLDER...

on `cache/full`'s validation split (prepared as in results/README.md), photos fit as train.py fits them.
"""

import sys
from pathlib import Path

import torch
from transformers import AutoImageProcessor, AutoModel

from data_scripts.prepare import load_prepared
from train import encode_split

folders = sys.argv[1:]
processor = AutoImageProcessor.from_pretrained(folders[0], trust_remote_code=True)
validation = load_prepared("cache/full")["validation"]
valid = encode_split(validation, processor, Path("cache/decoded"))  # decoded where train.py decodes it
probabilities = []  # per model: head -> (images, classes)
for folder in folders:
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    batches = []
    with torch.inference_mode():
        for start in range(0, len(valid["pixels"]), 512):
            pixels = processor.normalize(valid["pixels"][start : start + 512])
            batches.append({head: logits.softmax(-1) for head, logits in model(pixels).logits.items()})
    probabilities.append({head: torch.cat([batch[head] for batch in batches]) for head in model.config.heads})


def accuracies(members: list[dict[str, torch.Tensor]]) -> list[float]:
    """Top-1 accuracy (%) per head of the members' mean softmax, on the validation rows with a label."""
    result = []
    for column, head in enumerate(model.config.heads):
        known = valid["labels"][:, column] >= 0
        mean = torch.stack([member[head] for member in members]).mean(0)[known]
        result.append(100 * (mean.argmax(-1) == valid["labels"][known, column]).float().mean().item())
    return result


print(f"{'':40s}" + "".join(f"{head:>13s}" for head in model.config.heads) + "         mean")
rows = [(Path(folder).name, [member]) for folder, member in zip(folders, probabilities)]
rows += [(f"ensemble of the first {n}", probabilities[:n]) for n in range(2, len(folders) + 1)]
for name, members in rows:
    figures = accuracies(members)
    print(f"{name:40s}" + "".join(f"{value:11.2f} %" for value in figures) + f"{sum(figures) / len(figures):11.2f} %")
