"""Copies of a photo across the splits that the cleaning cannot see, as they are not byte-identical:

    python -m data_scripts.near_copies [PREPARED_FOLDER]   (default: cache/full)

For each validation photo, its nearest training photo by 16x16 grey thumbnails (mean absolute difference); a
pair closer than 3/255 there is then compared at full size, and counted as the same photo under 1/255. A lower
bound: only each validation photo's nearest training photo is compared. Prints the count and, per head, how many
of those pairs are labelled differently.
"""

from __future__ import annotations

import argparse

import datasets
import numpy as np
import PIL.Image
import torch
from tqdm.auto import tqdm

from modeling import load_rgb_image

from .rules import HEADS

THUMBNAIL_SIDE = 16
CANDIDATE_DIFFERENCE = 3.0  # per thumbnail pixel, of 255
SAME_PHOTO_DIFFERENCE = 1.0  # per value of the full-size RGB photo, of 255


def decode(split: datasets.Dataset) -> list[np.ndarray]:
    images = split.cast_column("image", datasets.Image(decode=False))["image"]
    return [np.asarray(load_rgb_image(image["bytes"]), dtype=np.float32)
            for image in tqdm(images, desc=f"decoding {len(images)} photos", unit="img")]  # fmt: skip


def thumbnails(photos: list[np.ndarray]) -> torch.Tensor:
    grey = (PIL.Image.fromarray(photo.astype(np.uint8)).convert("L") for photo in photos)
    side = (THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    return torch.tensor(np.stack([np.asarray(g.resize(side, PIL.Image.BILINEAR), dtype=np.float32).ravel()
                                  for g in grey]))  # fmt: skip


def same_photos(train: list[np.ndarray], validation: list[np.ndarray]) -> list[tuple[int, int]]:
    """(validation index, training index) of the validation photos whose nearest training photo is the same."""
    distance, nearest = (torch.cdist(thumbnails(validation), thumbnails(train), p=1) / THUMBNAIL_SIDE**2).min(dim=1)
    pairs = [(v, nearest[v].item()) for v in (distance < CANDIDATE_DIFFERENCE).nonzero().flatten().tolist()]
    return [(v, t) for v, t in pairs if validation[v].shape == train[t].shape
            and np.abs(validation[v] - train[t]).mean() < SAME_PHOTO_DIFFERENCE]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prepared", nargs="?", default="cache/full")
    splits = datasets.load_dataset(parser.parse_args(argv).prepared)
    pairs = same_photos(decode(splits["train"]), decode(splits["validation"]))
    ids = [f"{splits['validation'][v]['id']}/{splits['train'][t]['id']}" for v, t in pairs]
    print(f"{len(pairs)} of {len(splits['validation'])} validation photos are a training photo at full size "
          f"(validation/training ids: {', '.join(ids)})")
    for head in HEADS:
        differ = sum(splits["validation"][v][head] != splits["train"][t][head] for v, t in pairs)
        print(f"  {head}: {differ} labelled differently")


if __name__ == "__main__":
    main()
