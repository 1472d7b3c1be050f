"""Shared fixtures: a tiny model (timm `test_resnet`, small made-up heads), a saved model folder, real photos.

Everything runs offline on CPU: the Hub is never contacted and no ResNet-50 weights are instantiated.
"""

from __future__ import annotations

import os

# Before anything imports huggingface_hub / transformers: the suite must never reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import http.server
import io
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

import modeling
from helpers_output import build_output_folder
from modeling import FashionAttributesPipeline, FashionImageProcessor, FashionResNetConfig, FashionResNetModel

FIXTURE_IMAGES = Path(__file__).parent / "fixtures" / "images"

# The models are tiny: one thread is as fast, and avoids spinning threads when the CPUs are shared.
torch.set_num_threads(1)

# Deliberately NOT in alphabetical order (head order is meaningful: the columns of a (batch, heads) labels
# tensor and the order of the logits); label lists are not sorted either.
TINY_HEADS = {
    "season": ["Summer", "Fall", "Winter"],
    "articleType": ["Tshirts", "Shirts", "Jeans", "Track Pants", "Backpacks"],
    "usage": ["Sports", "Casual"],
    "baseColour": ["Navy Blue", "Blue", "Black", "White"],
}
TINY_ARCHITECTURE = "test_resnet"


def tiny_config(**kwargs) -> FashionResNetConfig:
    kwargs.setdefault("architecture", TINY_ARCHITECTURE)
    kwargs.setdefault("heads", TINY_HEADS)
    return FashionResNetConfig(**kwargs)


def make_tiny_model(seed: int = 0, **config_kwargs) -> FashionResNetModel:
    """A tiny model whose outputs are far from uniform, so that comparisons between code paths mean something.

    A fresh model has near-zero heads (std 0.01) and zero-initialised last BN layers in the residual blocks;
    here every BN gets a random scale and running statistics and the heads get large weights.
    """
    torch.manual_seed(seed)
    model = FashionResNetModel(tiny_config(**config_kwargs))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
        for head in model.heads.values():
            head.weight.normal_(0.0, 0.5)
            head.bias.normal_(0.0, 0.5)
    return model.eval()


@pytest.fixture(scope="session")
def image_paths() -> list[Path]:
    """The real product photos committed under tests/fixtures/images (7 JPEGs)."""
    paths = sorted(FIXTURE_IMAGES.glob("*.jpg"))
    assert len(paths) >= 6, f"expected the committed fixture photos in {FIXTURE_IMAGES}"
    return paths


@pytest.fixture(scope="session")
def rgb_image_path(image_paths) -> Path:
    """A real 60x80 RGB photo."""
    path = FIXTURE_IMAGES / "1163.jpg"
    assert PIL.Image.open(path).mode == "RGB"
    return path


@pytest.fixture()
def trickling_url() -> Iterator[str]:
    """The URL of a real HTTP server on loopback that sends a 100-byte answer a byte every 0.1 s: each read is
    quick, the whole is not, so httpx's own timeout (per read) never trips."""

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tiny_model() -> FashionResNetModel:
    """A fresh tiny model (eval mode) that a test may train or modify."""
    return make_tiny_model()


@pytest.fixture(scope="session")
def shared_model() -> FashionResNetModel:
    """The tiny model that was saved to `saved_folder`; tests must not modify it."""
    model = make_tiny_model(seed=1234)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@pytest.fixture
def processor() -> FashionImageProcessor:
    return FashionImageProcessor()


@pytest.fixture(scope="session")
def shared_processor() -> FashionImageProcessor:
    return FashionImageProcessor.for_backbone(TINY_ARCHITECTURE)


@pytest.fixture(scope="session")
def shared_pipeline(shared_model, shared_processor) -> FashionAttributesPipeline:
    from transformers import pipeline

    return pipeline(modeling.TASK, model=shared_model, image_processor=shared_processor)


@pytest.fixture(scope="session")
def saved_folder(tmp_path_factory, shared_pipeline) -> Path:
    """`shared_pipeline.save_pretrained(folder)`: config, safetensors weights, preprocessor config, code."""
    folder = tmp_path_factory.mktemp("saved") / "fashion_tiny"
    shared_pipeline.save_pretrained(folder)
    return folder


# --- bad and unusual inputs, written by the tests into their tmp_path -------------------------------------


def png_bomb_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG signature and a valid IHDR (correct CRC) claiming width x height pixels, then an IDAT chunk
    header followed by garbage. PIL needs to reach IDAT to accept the header; `PIL.Image.open` then raises
    DecompressionBombError (the size exceeds 2 * MAX_IMAGE_PIXELS) before reading any pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    garbage = b"not zlib data, not pixels"
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", len(garbage)) + b"IDAT" + garbage


def write_bad_file(kind: str, folder: Path, real_jpeg: Path) -> Path:
    """Writes an unreadable "image" of the given kind into `folder`; returns its path (missing: not written)."""
    data = real_jpeg.read_bytes()
    if kind == "truncated":
        path = folder / "truncated.jpg"
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path = folder / "empty.jpg"
        path.write_bytes(b"")
    elif kind == "text":
        path = folder / "notes.jpg"
        path.write_text("this is not a JPEG, just some text\n")
    elif kind == "missing":
        path = folder / "does_not_exist.jpg"
    elif kind == "bomb":
        path = folder / "bomb.png"
        path.write_bytes(png_bomb_header())
    elif kind == "cut_qoi":
        path = folder / "cut.qoi"  # PIL's QOI decoder raises IndexError, not OSError, for a file cut short
        encoded = io.BytesIO()
        PIL.Image.open(real_jpeg).convert("RGB").save(encoded, "QOI")
        path.write_bytes(encoded.getvalue()[:200])
    else:
        raise ValueError(kind)
    return path


BAD_KINDS = ["truncated", "empty", "text", "missing", "bomb", "cut_qoi"]


def write_odd_image(kind: str, folder: Path, real_jpeg: Path) -> Path:
    """Writes a readable image in an unusual format, built from a real photo where it makes sense."""
    photo = PIL.Image.open(real_jpeg).convert("RGB")
    if kind == "rgba":
        rgba = photo.convert("RGBA")
        alpha = np.full((photo.height, photo.width), 255, dtype=np.uint8)
        alpha[:, : photo.width // 2] = 0  # left half fully transparent
        rgba.putalpha(PIL.Image.fromarray(alpha))
        path = folder / "rgba.png"
        rgba.save(path)
    elif kind == "grayscale":
        path = folder / "gray.png"
        photo.convert("L").save(path)
    elif kind == "cmyk":
        path = folder / "cmyk.jpg"
        photo.convert("CMYK").save(path, quality=95)
    elif kind == "16bit":
        path = folder / "sixteen.png"
        gray16 = (np.asarray(photo.convert("L"), dtype=np.uint32) * 257).astype(np.uint16)
        PIL.Image.fromarray(gray16).save(path)
    elif kind == "palette":
        path = folder / "palette.png"
        photo.convert("P").save(path)
    elif kind == "tiny":
        path = folder / "one_pixel.png"
        PIL.Image.new("RGB", (1, 1), (200, 30, 30)).save(path)
    elif kind == "thin":
        path = folder / "strip.png"  # fitted into 60x80, its short side rounds to nothing
        photo.resize((2, 400)).save(path)
    elif kind == "damaged_exif":
        path = folder / "damaged_exif.png"  # the pixels are whole; PIL's getexif() raises struct.error
        photo.save(path, exif=b"Exif\x00\x00MM\x00\x2a")
    else:
        raise ValueError(kind)
    return path


ODD_KINDS = ["rgba", "grayscale", "cmyk", "16bit", "palette", "tiny", "thin", "damaged_exif"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training output folder (docs/output_folder.md) of a tiny model; see helpers_output."""
    return build_output_folder(tmp_path_factory.mktemp("trained"))


@pytest.fixture()
def output_dir(trained: Path, tmp_path: Path) -> Path:
    """A fresh copy of `trained`, for the tests that change the folder or write their own card."""
    return Path(shutil.copytree(trained, tmp_path / "fashion-resnet50"))
