"""Verify images by decoding them, in a process pool; only metadata comes back."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from PIL import Image
from tqdm.auto import tqdm

GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


@dataclass(frozen=True)
class ImageInfo:
    """What the cleaning needs to know about one image file."""

    sha256: str
    width: int = 0
    height: int = 0
    mode: str = ""
    error: str = ""  # why PIL could not decode it; empty when it could

    @property
    def grayscale(self) -> bool:
        return self.mode in GRAYSCALE_MODES


def inspect_image(data: bytes) -> ImageInfo:
    """Hash the bytes and decode them fully (a truncated JPEG only fails on `load`)."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return ImageInfo(digest, image.width, image.height, image.mode)
    except Exception as error:  # noqa: BLE001 - whatever PIL raises, the file is unusable
        return ImageInfo(digest, error=f"{type(error).__name__}: {error}")


def inspect_images(images: Sequence[bytes | None], workers: int = 0) -> list[ImageInfo | None]:
    """`inspect_image` for each present image (None stays None), `workers` processes (0 = CPUs)."""
    present = [i for i, data in enumerate(images) if data is not None]
    workers = workers or os.cpu_count() or 1
    payload = (images[i] for i in present)
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(inspect_image, payload, chunksize=512)
        infos = list(tqdm(results, total=len(present), desc="verify images", unit="img"))
    out: list[ImageInfo | None] = [None] * len(images)
    for i, info in zip(present, infos):
        out[i] = info
    return out
