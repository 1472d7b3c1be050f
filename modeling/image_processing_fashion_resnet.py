"""Image loading and preprocessing for fashion product photos: the one definition used by training,
evaluation and inference."""

from __future__ import annotations

import functools
import io
import numbers
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
import PIL.ExifTags
import PIL.Image
import PIL.ImageOps
import timm
import torch
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

from .configuration_fashion_resnet import is_number

try:  # the HTTP client that huggingface_hub ships (httpx2 from its version 2 on, under this name), as transformers
    from huggingface_hub.utils import httpx
except ImportError:  # huggingface_hub 1.x, which depends on httpx itself
    import httpx

__all__ = ["FashionImageProcessor", "ImageLoadError", "ImageSource", "RAW_BYTES", "URL_TIMEOUT_S", "load_rgb_image"]

RAW_BYTES = (bytes, bytearray, memoryview)  # an encoded file in memory
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, PIL.Image.Image, np.ndarray, torch.Tensor]


URL_TIMEOUT_S = 30.0  # an unreachable, stalled or trickling server must not hang a batch
URL_MAX_BYTES = 64 * 2**20  # a product photo is a few MB: a larger answer is not one, and must not fill memory
# Each hop of a redirect gets the timeout for its connection and reads: a loop of slow hops must end (httpx's
# default, 20, let a loop answering each hop in 2.5 s run for 53 s against a 3 s timeout).
URL_MAX_REDIRECTS = 5


# Errors whose message alone says what is wrong with an input. DecompressionBombError is raised for headers claiming
# more than 2 * MAX_IMAGE_PIXELS pixels.
SELF_EXPLAINING_ERRORS = (OSError, ValueError, TypeError, SyntaxError, PIL.Image.DecompressionBombError,
                          httpx.HTTPError, httpx.InvalidURL)


class ImageLoadError(ValueError):
    """An input could not be turned into an RGB image; the message names the input."""


def describe(source: Any) -> str:
    """A short, human-readable name for an image input, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    if isinstance(source, RAW_BYTES):
        return f"<{memoryview(source).nbytes} bytes>"
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return f"<{type(source).__name__} of shape {tuple(source.shape)}>"
    return f"<{type(source).__name__}>"


CHANNELS = (1, 3, 4)  # grey, RGB, RGBA
# Resampling (bicubic, Lanczos) overshoots an image's range at edges by some percent, up to this share of the
# range above its top and below 0: float pixels up to 1.25 are in [0, 1] units, integers up to 1.25 x 255 in 0-255.
OVERSHOOT = 0.25
# A 0-255 float image whose brightest pixel is below this (6 % of white) is no photo: most likely the pixels of
# one already normalised (which reach about 2.6 with ImageNet's mean and std), read as 0-255 they are near black.
FLOAT_255_MIN_TOP = 16.0


# EXIF orientation -> the transposition that makes the image upright (as PIL.ImageOps.exif_transpose does).
EXIF_TRANSPOSE = {
    2: PIL.Image.Transpose.FLIP_LEFT_RIGHT,
    3: PIL.Image.Transpose.ROTATE_180,
    4: PIL.Image.Transpose.FLIP_TOP_BOTTOM,
    5: PIL.Image.Transpose.TRANSPOSE,
    6: PIL.Image.Transpose.ROTATE_270,
    7: PIL.Image.Transpose.TRANSVERSE,
    8: PIL.Image.Transpose.ROTATE_90,
}

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
ORIENTATION_INFO = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")  # where PIL's getexif() finds it


def is_channels_first(shape: Sequence[int]) -> bool:
    """Whether pixels of `shape` are (C, H, W), C in `CHANNELS`, rather than (H, W) or (H, W, C)."""
    return len(shape) == 3 and shape[0] in CHANNELS and shape[-1] not in CHANNELS


def _from_array(array: np.ndarray) -> PIL.Image.Image:
    """(H, W), (H, W, C) or (C, H, W) pixels, C in `CHANNELS`, to a PIL image: 16-bit integers scaled to 8
    bits, as 16-bit files are (`_scaled_integers`); floats in [0, 1] scaled to 0-255, as transformers'
    `to_pil_image` does (`_scaled_floats`); then rounded, and clipped to 0-255."""
    if array.dtype.kind not in "biuf":
        raise TypeError(f"unsupported pixel type {array.dtype}")
    if is_channels_first(array.shape):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in CHANNELS)):
        raise ValueError(f"expected (H, W), (H, W, C) or (C, H, W) pixels with C in {CHANNELS}")
    _refuse_too_many_pixels(array.shape[1], array.shape[0])  # before any copy: a broadcast view costs no memory
    if array.dtype == np.uint8:
        return PIL.Image.fromarray(array)
    if array.dtype == np.bool_:
        array = array * 255
    elif array.size:
        array = (_scaled_floats if array.dtype.kind == "f" else _scaled_integers)(array)
    return PIL.Image.fromarray(np.rint(array).clip(0, 255).astype(np.uint8))


def _refuse_too_many_pixels(width: int, height: int) -> None:
    """A ValueError for an image of more pixels than PIL allows a file without a warning (`MAX_IMAGE_PIXELS`, about
    89 megapixels; it refuses only twice that): decoding and converting one takes gigabytes and seconds, and no
    product photo is that large. Arrays, tensors and opened PIL images are held to it too."""
    limit = PIL.Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ValueError(f"the image has {width * height:,} pixels ({width}x{height}), more than PIL.Image."
                         f"MAX_IMAGE_PIXELS ({limit:,}): a decompression bomb, or no product photo")


def _scaled_integers(array: np.ndarray) -> np.ndarray:
    """Integer pixels in 0-255 units: uint16 arrays, and other integers past 255 by more than an overshoot (16-bit
    data, as PIL's mode I holds it), scaled by 1/257 as 16-bit files are; others as they are (to be clipped).
    Past 65535 they are no pixels."""
    high = array.max()
    if high > 65535:
        raise ValueError(f"integer pixels must lie in 0-255, or 0-65535 for 16-bit data; these reach {high}")
    return array / 257.0 if array.dtype == np.uint16 or high > (1 + OVERSHOOT) * 255 else array


def _scaled_floats(array: np.ndarray) -> np.ndarray:
    """Float pixels in 0-255 units: those whose top is at most 1 + `OVERSHOOT` are in [0, 1] units, as
    transformers' `to_pil_image` takes them, the others in 0-255 units already (to be clipped). Pixels far outside
    either range (past an overshoot, or a 0-255 image with no pixel above `FLOAT_255_MIN_TOP`) are no photo's:
    most often an already normalised tensor, which would otherwise be read as a near-black image and answered with
    confidence."""
    low, high = float(array.min()), float(array.max())  # NaN if any pixel is: no photo either
    scale = 1.0 if high <= 1 + OVERSHOOT else 255.0
    if not -OVERSHOOT * scale <= low <= high <= (1 + OVERSHOOT) * scale or 1 + OVERSHOOT < high < FLOAT_255_MIN_TOP:
        raise ValueError(f"float pixels must lie in [0, 1] or in [0, 255]; these go from {low:.3g} to {high:.3g} "
                         "(normalised pixels? pass the image before normalisation)")
    return array * (255.0 / scale)


def _open(source: ImageSource, timeout: float) -> PIL.Image.Image:
    if isinstance(source, PIL.Image.Image):
        return source
    if isinstance(source, torch.Tensor):
        if source.ndim in (2, 3):  # before the copies below: an expanded tensor costs no memory until then
            height, width = source.shape[1:] if is_channels_first(source.shape) else source.shape[:2]
            _refuse_too_many_pixels(width, height)
        # A model's output may need grad, live on a GPU or be bfloat16, which numpy lacks.
        tensor = source.detach().cpu()
        return _from_array((tensor.float() if tensor.is_floating_point() else tensor).numpy())
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, RAW_BYTES):
        return PIL.Image.open(io.BytesIO(source))
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.lower().startswith(("http://", "https://")):
            return PIL.Image.open(io.BytesIO(_download(path, timeout)))
        if not os.path.isfile(path):
            kind = "a folder, not an image file" if os.path.isdir(path) else "not a regular file (a pipe or a device)"
            raise FileNotFoundError(kind if os.path.exists(path) else "no such file")
        return PIL.Image.open(path)
    raise TypeError(f"unsupported input type {type(source).__name__}")


def _download(url: str, timeout: float) -> bytes:
    """The body of a GET of `url`, read as it streams in, up to `URL_MAX_BYTES` and `timeout` seconds."""
    # httpx's timeout bounds each connect and each read, not the whole: a server sending a byte every few
    # seconds would never trip it. The deadline does, at the chunk after it passes.
    deadline = time.monotonic() + timeout
    body = bytearray()
    with (httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=URL_MAX_REDIRECTS) as client,
          client.stream("GET", url) as response):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > URL_MAX_BYTES:
                raise ValueError(f"the download is larger than {URL_MAX_BYTES:,} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the download took longer than {timeout:g} s")
    return bytes(body)


def _integer_pixels(image: PIL.Image.Image) -> np.ndarray:
    """The pixels of an `I;16*` or `I` (32-bit) image, for `_from_array`: an `I;16*` image's as uint16."""
    pixels = np.asarray(image)
    # Mode I holds 16-bit files too (PIL opened 16-bit PNGs so before it had I;16 for them): `_scaled_integers`
    # tells them by their values.
    return pixels.astype(np.uint16) if image.mode in SIXTEEN_BIT_MODES else pixels  # also I;16B's to native order


def _orientation(image: PIL.Image.Image) -> int:
    """The EXIF orientation, 1 (as stored) where there is none or the EXIF block is damaged: the pixels are fine."""
    try:
        orientation = image.getexif().get(PIL.ExifTags.Base.Orientation, 1)
    except Exception:  # struct.error, SyntaxError, ...: whatever a damaged EXIF block makes the parser raise
        return 1
    return orientation if isinstance(orientation, int) and orientation in EXIF_TRANSPOSE else 1


def _to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """Any PIL mode to 8-bit RGB; transparency is composited on white, the photos' background."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image  # no copy: the pipeline loads each image twice (once to isolate errors, once to batch it)
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "I":
        image = _from_array(_integer_pixels(image))  # PIL's own I->L conversion clips 16-bit data at 255
    elif image.mode == "F":
        image = _from_array(np.asarray(image))  # scaled as a float array is, not clipped to black
    elif image.mode == "La":
        image = image.convert("LA")  # PIL converts premultiplied La to LA, and to no other mode
    if image.mode == "P" or "transparency" in image.info:
        # A palette, or one colour of an L or RGB image (a PNG's tRNS chunk), may be transparent.
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        white = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = PIL.Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("RGB")


def load_rgb_image(source: ImageSource, timeout: float = URL_TIMEOUT_S) -> PIL.Image.Image:
    """Open and fully decode `source` (path, URL, bytes, PIL, array or tensor) as an upright RGB image; a URL's
    download may take `timeout` seconds.

    Raises `ImageLoadError` naming the input for any input it cannot read: missing, empty, truncated,
    non-image or oversized (decompression bomb) files among them.
    """
    try:
        opened = _open(source, timeout)
        try:
            if 0 in opened.size:
                raise ValueError(f"the image has no pixels ({opened.width}x{opened.height})")
            _refuse_too_many_pixels(*opened.size)
            opened.load()  # decode now: a truncated file must fail here, not later in a batch
            image = opened
            orientation = _orientation(image)
            if orientation != 1:
                # Not ImageOps.exif_transpose: it also rewrites the EXIF, and raises struct.error, TypeError or
                # IndexError where a camera wrote a tag of the wrong type. The upright image drops the orientation
                # (EXIF and XMP) instead, so that loading it again does not turn it a second time.
                image = image.transpose(EXIF_TRANSPOSE[orientation])
                image.info = {key: value for key, value in image.info.items() if key not in ORIENTATION_INFO}
            image = _to_rgb(image)
            # An image opened here is detached from its file, which is then closed: multi-frame files (MPO
            # phone photos, animated PNG) keep it open after load().
            return image.copy() if image is opened and opened is not source else image
        finally:
            if opened is not source:
                opened.close()
    except Exception as error:  # whatever a decoder raises on one bad input is that input's error, not the batch's
        if isinstance(error, SELF_EXPLAINING_ERRORS) and str(error):
            reason = str(error)
        else:  # a decoder's IndexError for a truncated QOI file, a closed image's AssertionError, ...
            reason = traceback.format_exception_only(error)[-1].strip()
        raise ImageLoadError(f"cannot read image {describe(source)}: {reason}") from error


@functools.lru_cache(maxsize=32)
def _channel_constants(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std in uint8 units, (1, 3, 1, 1), made once per device: a host-to-GPU copy of fresh
    constants at every training step would make the host wait for the GPU."""
    mean_255, std_255 = ((torch.tensor(v).view(1, -1, 1, 1) * 255).to(device) for v in (mean, std))
    return mean_255, std_255


def checked_size(size: Any) -> dict[str, int]:
    """`size` as `{"height": H, "width": W}`, or a ValueError naming it (it would fail at the first image)."""
    if (not isinstance(size, Mapping) or sorted(size) != ["height", "width"]
            or not all(is_number(edge, numbers.Integral) and edge >= 1 for edge in size.values())):  # fmt: skip
        raise ValueError(f"size must be {{'height': H, 'width': W}} in pixels, each at least 1, got {size!r}")
    return {"height": int(size["height"]), "width": int(size["width"])}


def checked_pad_color(pad_color: Any) -> list[int]:
    """`pad_color` as an RGB list, or a ValueError naming it (it would fail at the first image to pad)."""
    if (isinstance(pad_color, (str, bytes)) or not isinstance(pad_color, Sequence) or len(pad_color) != 3
            or not all(is_number(channel, numbers.Integral) and 0 <= channel <= 255
                       for channel in pad_color)):  # fmt: skip
        raise ValueError(f"pad_color must be three whole numbers in 0-255 (red, green, blue), got {pad_color!r}")
    return [int(channel) for channel in pad_color]


def checked_channel_statistic(name: str, values: Any) -> list[float]:
    """`image_mean` or `image_std` as a list of three floats in [0, 1] units, a std above 0, or a ValueError naming
    the setting: a wrong length failed at the first image, a std of 0 made its channel infinite, and 0-255 units
    (123.7, ...) made every pixel hugely negative, answered with confidence all the same."""
    try:
        floats = [float(value) for value in values]
    except (TypeError, ValueError):
        floats = []
    in_range = (lambda value: 0 <= value <= 1) if name == "image_mean" else (lambda value: 0 < value <= 1)
    if len(floats) != 3 or not all(in_range(value) for value in floats):
        above = ", each above 0" if name == "image_std" else ""
        raise ValueError(f"{name} must be three numbers (red, green, blue) in [0, 1] units{above}, got {values!r}")
    return floats


def checked_resample(resample: Any) -> int:
    """`resample` as PIL's filter number, or a ValueError naming it and the filters there are."""
    try:
        return int(PIL.Image.Resampling(resample))
    except ValueError:
        filters = ", ".join(f"{f.value} ({f.name})" for f in PIL.Image.Resampling)
        raise ValueError(f"resample must be one of PIL's filters {filters}, got {resample!r}") from None


class FashionImageProcessorKwargs(ImagesKwargs, total=False):
    """The settings `from_pretrained` passes to the constructor, where they are checked: transformers' own and
    `pad_color` (one it does not know it would set on the built processor, unchecked, with a warning)."""

    pad_color: list[int]


class FashionImageProcessor(BaseImageProcessor):
    r"""
    Resizes product photos to a fixed size without distorting the item (fit inside, then pad with the
    background colour), and normalises with the backbone's mean and std.

    Args:
        size (`dict[str, int]`, defaults to `{"height": 80, "width": 60}`):
            Output size; the default is the dataset's native 3:4 portrait size.
        pad_color (`list[int]`, defaults to white):
            RGB fill for the padding; product photos have a white background.
        resample (`int`, defaults to `PIL.Image.BICUBIC`):
            PIL resampling filter.
        do_normalize (`bool`, defaults to `True`):
            If False, `pixel_values` are uint8 (N, 3, H, W): the compact form training caches and
            normalises on the accelerator with `normalize`.
        image_mean, image_std (`list[float]`): per-channel mean and std in [0, 1] units.
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = FashionImageProcessorKwargs

    def __init__(
        self,
        size: dict[str, int] | None = None,
        pad_color: Sequence[int] = (255, 255, 255),
        resample: int = PIL.Image.BICUBIC,
        do_normalize: bool = True,
        image_mean: Sequence[float] = timm.data.IMAGENET_DEFAULT_MEAN,
        image_std: Sequence[float] = timm.data.IMAGENET_DEFAULT_STD,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.size = checked_size(size or {"height": 80, "width": 60})
        self.pad_color = checked_pad_color(pad_color)
        self.resample = checked_resample(resample)
        if not isinstance(do_normalize, (bool, np.bool_)):
            raise ValueError(f"do_normalize must be True or False, got {do_normalize!r}")
        self.do_normalize = bool(do_normalize)  # numpy's bool would fail save_pretrained's JSON
        self.image_mean = checked_channel_statistic("image_mean", image_mean)
        self.image_std = checked_channel_statistic("image_std", image_std)

    @classmethod
    def for_backbone(cls, architecture: str, **kwargs) -> "FashionImageProcessor":
        """A processor with the normalisation the timm `architecture` was (pre)trained with."""
        pretrained_cfg = timm.models.get_pretrained_cfg(architecture)
        if pretrained_cfg is not None:
            kwargs.setdefault("image_mean", pretrained_cfg.mean)
            kwargs.setdefault("image_std", pretrained_cfg.std)
        return cls(**kwargs)

    def fit(self, image: PIL.Image.Image) -> np.ndarray:
        """Resize `image` to fit inside `size` keeping its aspect ratio, pad to `size`; uint8 (H, W, 3)."""
        height, width = self.size["height"], self.size["width"]
        if image.size != (width, height):
            scale = min(width / image.width, height / image.height)
            if min(image.size) * scale < 1:
                # PIL would fit the short side of a thin strip (say 2x400) into 0 px and fail: 1 px it is.
                fitted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                image = image.resize(fitted, resample=self.resample)
            image = PIL.ImageOps.pad(
                image, (width, height), method=self.resample, color=tuple(self.pad_color), centering=(0.5, 0.5)
            )
        return np.asarray(image)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) -> normalised float32, on whatever device `pixels` is on. In float32 whatever the
        model's dtype: in bfloat16, the constants' rounding would shift every pixel of a channel alike."""
        mean, std = _channel_constants(tuple(self.image_mean), tuple(self.image_std), pixels.device)
        return (pixels.float() - mean) / std

    def preprocess(
        self,
        images: ImageSource | Sequence[ImageSource],
        do_normalize: bool | None = None,
        channels_last: bool = False,
        return_tensors: str | None = "pt",
        **unknown: Any,
    ) -> BatchFeature:
        """Images (one or a list) -> `BatchFeature` with `pixel_values` (N, 3, H, W), contiguous, or with
        channels_last strides if asked (no reordering copy: the pipeline's choice, as the model runs so).

        A list with an unreadable item raises `ImageLoadError` naming that item; the pipeline
        instead answers for the readable items (see `FashionAttributesPipeline`).
        """
        if unknown:
            # Size, mean and std are the ones the weights were trained with: they are the processor's, not a call's.
            raise TypeError(f"{type(self).__name__}.preprocess got unexpected arguments {sorted(unknown)}; size, "
                            "pad_color, resample, image_mean and image_std are set on the processor")  # fmt: skip
        if return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors={return_tensors!r}: only 'pt' is supported")
        if isinstance(images, (list, tuple)):
            batch = list(images)
        elif isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            batch = list(images)
        else:
            batch = [images]
        if not batch:
            raise ValueError("no images given")
        arrays = []
        for index, source in enumerate(batch):
            try:
                arrays.append(self.fit(load_rgb_image(source)))
            except ImageLoadError as error:
                if len(batch) == 1:
                    raise
                raise ImageLoadError(f"item {index}: {error}") from error
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # channels_last strides
        if not channels_last:
            pixels = pixels.contiguous()
        if self.do_normalize if do_normalize is None else do_normalize:
            pixels = self.normalize(pixels)
        return BatchFeature({"pixel_values": pixels}, tensor_type=return_tensors)
