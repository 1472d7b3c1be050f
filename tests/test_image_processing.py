"""FashionImageProcessor and load_rgb_image: shapes, normalisation, aspect ratio, input types, bad files."""

from __future__ import annotations

import functools
import http.server
import os
import re
import struct
import threading
import warnings
from pathlib import Path

import numpy as np
import PIL.ExifTags
import PIL.Image
import PIL.ImageOps
import pytest
import timm
import torch
from conftest import BAD_KINDS, ODD_KINDS, png_bomb_header, write_bad_file, write_odd_image
from transformers import AutoImageProcessor

from modeling import FashionImageProcessor, ImageLoadError, image_processing_fashion_resnet, load_rgb_image

HEIGHT, WIDTH = 80, 60


def normalised(processor: FashionImageProcessor, rgb) -> torch.Tensor:
    """What the processor should output for a pixel of colour `rgb` (0..255), per channel."""
    rgb = torch.tensor(rgb, dtype=torch.float32) / 255
    return (rgb - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)


# --- shapes and normalisation ------------------------------------------------------------------------------


def test_output_is_normalised_float_batch(processor, image_paths):
    pixels = processor(image_paths).pixel_values
    assert pixels.shape == (len(image_paths), 3, HEIGHT, WIDTH)
    assert pixels.dtype == torch.float32
    # normalised: white background maps to (1 - mean) / std, values leave [0, 1]
    assert pixels.min() < 0 and pixels.max() > 1.5
    torch.testing.assert_close(pixels[0, :, 0, 0], normalised(processor, (255, 255, 255)), atol=0.05, rtol=0)


def test_uint8_output_and_normalize_matches_float_output(processor, image_paths):
    as_uint8 = processor(image_paths, do_normalize=False).pixel_values
    assert as_uint8.shape == (len(image_paths), 3, HEIGHT, WIDTH)
    assert as_uint8.dtype == torch.uint8
    as_float = processor(image_paths).pixel_values
    torch.testing.assert_close(processor.normalize(as_uint8), as_float, atol=1e-6, rtol=0)
    # and by hand
    manual = (as_uint8.float() / 255 - torch.tensor(processor.image_mean).view(1, 3, 1, 1)) / torch.tensor(
        processor.image_std
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(as_float, manual, atol=1e-5, rtol=0)
    # a processor built with do_normalize=False gives uint8 by default
    assert FashionImageProcessor(do_normalize=False)(image_paths[0]).pixel_values.dtype == torch.uint8


def test_pixel_values_are_contiguous_unless_channels_last_is_asked(processor, image_paths):
    default = processor(image_paths, do_normalize=False).pixel_values
    assert default.is_contiguous()
    channels_last = processor(image_paths, do_normalize=False, channels_last=True).pixel_values
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(channels_last, default)


def test_native_size_photo_is_not_resampled(processor, rgb_image_path):
    photo = np.array(PIL.Image.open(rgb_image_path).convert("RGB"))
    assert photo.shape == (HEIGHT, WIDTH, 3)
    pixels = processor(rgb_image_path, do_normalize=False).pixel_values[0]
    assert torch.equal(pixels.permute(1, 2, 0), torch.from_numpy(photo))


def test_wide_image_keeps_aspect_ratio_with_white_padding_top_and_bottom(processor):
    wide = PIL.Image.new("RGB", (200, 50), (0, 0, 0))  # 4:1 -> fits as 60x15, padded to 60x80
    pixels = processor(wide).pixel_values[0]
    white = normalised(processor, (255, 255, 255)).view(3, 1, 1)
    black = normalised(processor, (0, 0, 0)).view(3, 1, 1)
    # rows of padding above and below
    top, bottom = pixels[:, :30, :], pixels[:, -30:, :]
    torch.testing.assert_close(top, white.expand_as(top), atol=1e-5, rtol=0)
    torch.testing.assert_close(bottom, white.expand_as(bottom), atol=1e-5, rtol=0)
    # the image itself: 15 rows of black across the full width, in the middle
    black_row = black.view(3, 1).expand(3, WIDTH)
    black_rows = [row for row in range(HEIGHT) if torch.allclose(pixels[:, row, :], black_row, atol=1e-5)]
    assert 13 <= len(black_rows) <= 16
    assert black_rows == list(range(black_rows[0], black_rows[0] + len(black_rows)))
    assert 30 <= black_rows[0] <= 34


def test_tall_image_is_padded_left_and_right(processor):
    tall = PIL.Image.new("RGB", (20, 160), (0, 0, 0))  # fits as 10x80
    pixels = processor(tall, do_normalize=False).pixel_values[0]
    assert (pixels[:, :, :20] == 255).all() and (pixels[:, :, -20:] == 255).all()
    assert (pixels[:, :, 27:33] == 0).all()


def test_non_native_real_photo_is_padded_not_stretched(processor, image_paths):
    square = next(path for path in image_paths if PIL.Image.open(path).size == (60, 60))
    pixels = processor(square, do_normalize=False).pixel_values[0]
    # a 60x60 photo is not scaled (width already fits) and gets 10 white rows above and below
    assert (pixels[:, :10, :] == 255).all() and (pixels[:, -10:, :] == 255).all()
    photo = torch.from_numpy(np.array(PIL.Image.open(square).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(pixels[:, 10:70, :], photo)


# --- input types -------------------------------------------------------------------------------------------


def test_accepts_all_input_types(processor, rgb_image_path):
    pil = PIL.Image.open(rgb_image_path).convert("RGB")
    array = np.asarray(pil).copy()  # (H, W, 3) uint8
    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()  # (3, H, W) uint8
    reference = processor(pil).pixel_values
    assert reference.shape == (1, 3, HEIGHT, WIDTH)
    inputs = {
        "pil": pil,
        "numpy": array,
        "torch": tensor,
        "str": str(rgb_image_path),
        "pathlib": Path(rgb_image_path),
        "bytes": rgb_image_path.read_bytes(),
    }
    for kind, source in inputs.items():
        pixels = processor(source).pixel_values
        assert pixels.shape == (1, 3, HEIGHT, WIDTH), kind
        torch.testing.assert_close(pixels, reference, atol=0, rtol=0, msg=kind)
    # a list mixing them all, in order
    batch = processor(list(inputs.values())).pixel_values
    assert batch.shape == (len(inputs), 3, HEIGHT, WIDTH)
    torch.testing.assert_close(batch, reference.expand(len(inputs), -1, -1, -1), atol=0, rtol=0)
    # a tuple, and a 4-D (N, 3, H, W) tensor
    assert processor((pil, pil)).pixel_values.shape == (2, 3, HEIGHT, WIDTH)
    torch.testing.assert_close(processor(torch.stack([tensor, tensor])).pixel_values, reference.expand(2, -1, -1, -1))


def test_arrays_and_tensors_in_the_layouts_and_types_users_hold(rgb_image_path):
    rgb = np.asarray(PIL.Image.open(rgb_image_path).convert("RGB"))
    as_rgb = np.asarray(load_rgb_image(rgb))
    grey = np.repeat(rgb[..., :1], 3, axis=-1)
    chw = torch.from_numpy(rgb.copy()).permute(2, 0, 1)
    cases = {
        "grey (H, W)": (rgb[..., 0], grey),
        "grey (H, W, 1)": (rgb[..., :1], grey),
        "RGBA (H, W, 4), opaque": (np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), as_rgb),
        "uint16": (rgb.astype(np.uint16) * 257, as_rgb),
        "int32 of 16-bit values, as PIL's mode I holds them": (rgb.astype(np.int32) * 257, as_rgb),
        "float in [0, 1]": (rgb / 255.0, as_rgb),
        "float in [0, 255]": (rgb.astype(np.float32), as_rgb),
        "bfloat16 tensor in [0, 1]": ((chw / 255).bfloat16(), as_rgb),
        "PIL float image in [0, 1]": (PIL.Image.fromarray(rgb[..., 0] / np.float32(255)), grey),
    }
    for name, (source, expected) in cases.items():
        assert np.array_equal(np.asarray(load_rgb_image(source)), expected), name
    for shape in ((2, HEIGHT, WIDTH, 3), (HEIGHT, WIDTH, 2)):
        with pytest.raises(ImageLoadError, match=re.escape(f"<ndarray of shape {shape}>")):
            load_rgb_image(np.zeros(shape, np.uint8))


def test_a_float_image_resampled_a_little_past_0_1_keeps_its_range():
    # Bicubic upscaling overshoots [0, 1] at edges; the image is still in [0, 1] units, not a dark 0-255 one.
    halves = torch.zeros(3, HEIGHT // 2, WIDTH // 2)
    halves[..., WIDTH // 4 :] = 1.0
    upscaled = torch.nn.functional.interpolate(halves[None], size=(HEIGHT, WIDTH), mode="bicubic")[0]
    assert upscaled.min() < 0 and upscaled.max() > 1
    rgb = np.asarray(load_rgb_image(upscaled))
    assert (rgb[:, 0] == 0).all() and (rgb[:, -1] == 255).all()


def photo_pixels(path: Path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path).convert("RGB"))


def normalised_photo(path: Path) -> torch.Tensor:
    return FashionImageProcessor.for_backbone("resnet50")(path).pixel_values[0]


@pytest.mark.parametrize(("make", "reason"), [
    (lambda path: normalised_photo(path), r"float pixels must lie in \[0, 1\] or in \[0, 255\]; these go from -"),
    (lambda path: normalised_photo(path).clamp(-1, 1), r"float pixels .* from -1 to 1 .*normalised pixels"),
    (lambda path: normalised_photo(path).clamp(min=0.5), "from 0.5 to 2.64"),  # a light photo's: none below 0
    (lambda path: torch.full((3, HEIGHT, WIDTH), 400.0), "float pixels .* to 400"),
    (lambda path: np.full((HEIGHT, WIDTH), 70_000, np.int32), "or 0-65535 for 16-bit data; these reach 70000"),
    (lambda path: np.full((HEIGHT, WIDTH), np.nan, np.float32), "float pixels .* from nan to nan"),
], ids=["normalised", "in [-1, 1]", "normalised, light", "past 255", "past 16 bits", "not a number"])  # fmt: skip
def test_pixels_outside_any_image_range_are_refused_naming_the_range(make, reason, rgb_image_path):
    # Read as 0-255 and clipped, a normalised tensor was a near-black image, answered with confidence.
    with pytest.raises(ImageLoadError, match=reason):
        load_rgb_image(make(rgb_image_path))


def resampled_bicubic(pixels: np.ndarray) -> torch.Tensor:
    """`pixels` (H, W, 3) as float, downscaled and upscaled again bicubically: past its range at edges."""
    chw = torch.tensor(pixels).permute(2, 0, 1)[None].float()
    small = torch.nn.functional.interpolate(chw, scale_factor=0.5, mode="bicubic")
    return torch.nn.functional.interpolate(small, size=pixels.shape[:2], mode="bicubic")[0]


@pytest.mark.parametrize("make", [
    lambda rgb: resampled_bicubic(rgb),  # 0-255 units, below 0 and past 255 by some
    lambda rgb: resampled_bicubic(rgb) / 255,
    lambda rgb: PIL.Image.fromarray(resampled_bicubic(rgb)[0].numpy()),  # a mode F image
    lambda rgb: np.minimum(rgb.astype(np.int32) + 40, 300),  # integers brightened past 255 by less than 1.25 x
], ids=["0-255 floats resampled", "[0, 1] floats resampled", "mode F resampled", "integers brightened past 255"])
def test_pixels_past_their_range_by_an_overshoot_are_read_and_clipped(make, rgb_image_path):
    pixels = make(photo_pixels(rgb_image_path))
    values = np.asarray(pixels, dtype=np.float64)
    scale = 255 if values.max() > 1.25 else 1
    assert values.min() < 0 or values.max() > scale, "the case must overshoot"
    expected = np.rint(values * (255 / scale)).clip(0, 255).astype(np.uint8)
    if expected.ndim == 3 and expected.shape[0] == 3:
        expected = expected.transpose(1, 2, 0)
    rgb = np.asarray(load_rgb_image(pixels))
    assert np.array_equal(rgb if expected.ndim == 3 else rgb[..., 0], expected)


def test_list_order_is_kept(processor, image_paths):
    batch = processor(image_paths).pixel_values
    for i, path in enumerate(image_paths):
        torch.testing.assert_close(batch[i : i + 1], processor(path).pixel_values, atol=0, rtol=0)


def test_empty_list_and_unsupported_type_raise(processor):
    with pytest.raises(ValueError, match="no images"):
        processor([])
    with pytest.raises(ImageLoadError, match="int"):
        processor(12345)
    with pytest.raises(ValueError, match="return_tensors"):
        processor(PIL.Image.new("RGB", (4, 4)), return_tensors="np")


# --- backbone normalisation, save / load -------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["resnet50", "vit_base_patch16_224", "test_resnet"])
def test_for_backbone_uses_timm_mean_and_std(architecture):
    pretrained = timm.models.get_pretrained_cfg(architecture)
    processor = FashionImageProcessor.for_backbone(architecture)
    assert processor.image_mean == pytest.approx(list(pretrained.mean))
    assert processor.image_std == pytest.approx(list(pretrained.std))
    # explicit arguments win
    assert FashionImageProcessor.for_backbone(architecture, image_mean=[0.1, 0.2, 0.3]).image_mean == [0.1, 0.2, 0.3]


def test_for_backbone_differs_from_default_where_timm_does():
    assert FashionImageProcessor.for_backbone("vit_base_patch16_224").image_mean == pytest.approx([0.5, 0.5, 0.5])
    assert FashionImageProcessor().image_mean == pytest.approx(list(timm.data.IMAGENET_DEFAULT_MEAN))


@pytest.mark.parametrize("setting", [{"size": {"shortest_edge": 224}}, {"size": 224}, {"size": (160, 120)},
                                     {"size": {"height": 0, "width": 60}}, {"resample": "bicubic"},
                                     {"pad_color": "white"}, {"pad_color": (255, 255)}, {"pad_color": [0, 0, 256]},
                                     {"image_mean": [0.5, 0.5]}, {"image_std": [0.5, 0.0, 0.5]}])  # fmt: skip
def test_a_bad_setting_is_refused_naming_it_when_the_processor_is_made(setting, tmp_path):
    # Before, each failed only at the first image, with a KeyError, TypeError, ZeroDivisionError or a tensor size
    # mismatch, or not at all (a std of 0 gave infinite pixels); a pad_color given to from_pretrained was set on
    # the built processor unchecked.
    FashionImageProcessor().save_pretrained(tmp_path)
    name, value = next(iter(setting.items()))
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got {re.escape(repr(value))}$"):
        FashionImageProcessor.from_pretrained(tmp_path, **setting)


def test_a_numpy_bool_do_normalize_is_kept_as_pythons_so_that_the_processor_saves(tmp_path):
    FashionImageProcessor(do_normalize=np.bool_(False)).save_pretrained(tmp_path)  # before, a JSON TypeError
    assert FashionImageProcessor.from_pretrained(tmp_path).do_normalize is False
    with pytest.raises(ValueError, match="do_normalize must be True or False, got 'no'"):
        FashionImageProcessor(do_normalize="no")


def test_save_and_load_keeps_settings(tmp_path, image_paths):
    processor = FashionImageProcessor(
        size={"height": 64, "width": 48},
        pad_color=(10, 20, 30),
        resample=PIL.Image.BILINEAR,
        do_normalize=False,
        image_mean=[0.1, 0.2, 0.3],
        image_std=[0.4, 0.5, 0.6],
    )
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, FashionImageProcessor)
    assert loaded.size == {"height": 64, "width": 48}
    assert loaded.pad_color == [10, 20, 30]
    assert loaded.resample == PIL.Image.BILINEAR
    assert loaded.do_normalize is False
    assert loaded.image_mean == pytest.approx([0.1, 0.2, 0.3])
    assert loaded.image_std == pytest.approx([0.4, 0.5, 0.6])
    wide = PIL.Image.new("RGB", (200, 50), (0, 0, 0))
    for source in (image_paths[0], wide):
        assert torch.equal(loaded(source).pixel_values, processor(source).pixel_values)
    assert loaded(wide).pixel_values.shape == (1, 3, 64, 48)
    assert loaded(wide).pixel_values[0, :, 0, 0].tolist() == [10, 20, 30]


# --- unusual but readable images ---------------------------------------------------------------------------


def test_rgba_transparent_pixels_become_white(tmp_path, rgb_image_path):
    path = write_odd_image("rgba", tmp_path, rgb_image_path)
    assert PIL.Image.open(path).mode == "RGBA"
    rgb = np.asarray(load_rgb_image(path))
    photo = np.asarray(PIL.Image.open(rgb_image_path).convert("RGB"))
    assert (rgb[:, : WIDTH // 2] == 255).all(), "transparent half must be white"
    assert np.array_equal(rgb[:, WIDTH // 2 :], photo[:, WIDTH // 2 :]), "opaque half must be unchanged"


def test_rgba_black_transparent_is_white_not_black(processor):
    # transparent pixels often store black colour values; they must not show
    rgba = PIL.Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    pixels = processor(rgba, do_normalize=False).pixel_values
    assert (pixels == 255).all()


def test_grayscale_real_photo_becomes_rgb(image_paths, processor):
    gray_path = next(path for path in image_paths if PIL.Image.open(path).mode == "L")
    rgb = np.asarray(load_rgb_image(gray_path))
    assert rgb.shape == (HEIGHT, WIDTH, 3)
    gray = np.asarray(PIL.Image.open(gray_path))
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], gray)
    assert processor(gray_path).pixel_values.shape == (1, 3, HEIGHT, WIDTH)


def test_16bit_png_is_rescaled_not_clipped(tmp_path, rgb_image_path):
    path = write_odd_image("16bit", tmp_path, rgb_image_path)
    opened = PIL.Image.open(path)
    assert opened.mode.startswith("I"), opened.mode
    values = np.asarray(opened)
    assert values.max() > 255 * 10, "the fixture must use the 16-bit range"
    rgb = np.asarray(load_rgb_image(path)).astype(int)
    expected = np.asarray(PIL.Image.open(rgb_image_path).convert("L")).astype(int)
    assert np.abs(rgb[..., 0] - expected).max() <= 1  # value * 257 / 257
    assert (rgb < 250).mean() > 0.1, "16-bit values were clipped to white"


def test_16bit_gradient_spans_the_8bit_range():
    ramp = np.linspace(0, 65535, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.uint16)
    rgb = np.asarray(load_rgb_image(PIL.Image.fromarray(ramp))).astype(int)
    assert rgb.min() == 0 and rgb.max() == 255
    assert abs(rgb[HEIGHT // 2, WIDTH // 2, 0] - 128) <= 2


def test_32bit_integer_image_of_8bit_values_is_read_as_they_are(rgb_image_path):
    # Mode I (Image.fromarray of int32, a 32-bit TIFF) holds 16-bit data only where its values pass 255.
    gray = np.asarray(PIL.Image.open(rgb_image_path).convert("L"))
    expected = np.asarray(load_rgb_image(PIL.Image.fromarray(gray)))
    for pixels in (gray.astype(np.int32), gray.astype(np.int32) * 257):
        image = PIL.Image.fromarray(pixels)
        assert image.mode == "I"
        assert np.abs(np.asarray(load_rgb_image(image)).astype(int) - expected).max() <= 1


def test_a_damaged_exif_block_leaves_the_image_as_stored(tmp_path, rgb_image_path):
    path = write_odd_image("damaged_exif", tmp_path, rgb_image_path)
    with pytest.raises(struct.error):
        PIL.Image.open(path).getexif()
    photo = np.asarray(PIL.Image.open(rgb_image_path).convert("RGB"))
    assert np.array_equal(np.asarray(load_rgb_image(path)), photo)


def test_cmyk_jpeg_is_converted(tmp_path, rgb_image_path):
    path = write_odd_image("cmyk", tmp_path, rgb_image_path)
    assert PIL.Image.open(path).mode == "CMYK"
    rgb = np.asarray(load_rgb_image(path)).astype(float)
    photo = np.asarray(PIL.Image.open(rgb_image_path).convert("RGB")).astype(float)
    assert rgb.shape == photo.shape
    assert np.abs(rgb - photo).mean() < 8, "CMYK colours came out wrong (inverted?)"


def test_palette_image_is_converted(tmp_path, rgb_image_path):
    path = write_odd_image("palette", tmp_path, rgb_image_path)
    assert PIL.Image.open(path).mode == "P"
    rgb = np.asarray(load_rgb_image(path)).astype(float)
    photo = np.asarray(PIL.Image.open(rgb_image_path).convert("RGB")).astype(float)
    assert np.abs(rgb - photo).mean() < 20


def test_palette_with_transparency_becomes_white(tmp_path):
    image = PIL.Image.new("P", (WIDTH, HEIGHT), 0)
    image.putpalette([0, 0, 0, 200, 0, 0] + [0] * (254 * 3))
    image.paste(1, (0, 0, WIDTH, HEIGHT // 2))  # top half red, bottom half index 0 (transparent black)
    path = tmp_path / "palette_transparent.png"
    image.save(path, transparency=0)
    rgb = np.asarray(load_rgb_image(path))
    assert (rgb[HEIGHT // 2 :] == 255).all()
    assert (rgb[: HEIGHT // 2] == (200, 0, 0)).all()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_transparent_colour_of_a_grey_or_rgb_png_becomes_white(tmp_path, mode):
    # A PNG's tRNS chunk: no alpha channel, one colour (here black, the bottom half) declared transparent.
    black, grey = (0, 120) if mode == "L" else ((0, 0, 0), (120, 120, 120))
    image = PIL.Image.new(mode, (WIDTH, HEIGHT), black)
    image.paste(grey, (0, 0, WIDTH, HEIGHT // 2))
    path = tmp_path / f"{mode}_transparent.png"
    image.save(path, transparency=black)
    rgb = np.asarray(load_rgb_image(path))
    assert (rgb[HEIGHT // 2 :] == 255).all()
    assert (rgb[: HEIGHT // 2] == 120).all()


def test_premultiplied_grey_and_alpha_in_memory_is_read():
    # Mode La (grey premultiplied by alpha) arises in memory only; PIL converts it to LA and nothing else.
    image = PIL.Image.new("LA", (WIDTH, HEIGHT), (0, 0)).convert("La")
    assert (np.asarray(load_rgb_image(image)) == 255).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_does(tmp_path, rgb_image_path, orientation):
    # Orientation 6: the camera was turned, the viewer rotates the stored 60x80 pixels to 80x60.
    image = PIL.Image.open(rgb_image_path)
    exif = image.getexif()
    exif[PIL.ExifTags.Base.Orientation] = orientation
    path = tmp_path / f"oriented-{orientation}.png"  # lossless: the pixels can be compared exactly
    image.save(path, exif=exif)
    upright = PIL.ImageOps.exif_transpose(PIL.Image.open(path)).convert("RGB")
    loaded = load_rgb_image(path)
    assert loaded.size == ((WIDTH, HEIGHT) if orientation < 5 else (HEIGHT, WIDTH))
    assert np.array_equal(np.asarray(loaded), np.asarray(upright))
    assert np.array_equal(np.asarray(load_rgb_image(loaded)), np.asarray(upright))  # not turned a second time


def test_files_are_closed_once_loaded(tmp_path, rgb_image_path):
    # Pillow keeps multi-frame files (animated PNG, MPO phone photos) open after load().
    frame = PIL.Image.open(rgb_image_path)
    path = tmp_path / "animated.png"
    frame.save(path, save_all=True, append_images=[frame.rotate(180)])
    descriptors = len(os.listdir("/proc/self/fd"))
    loaded = [load_rgb_image(path) for _ in range(20)]
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert all(image.size == (WIDTH, HEIGHT) and image.mode == "RGB" for image in loaded)


def test_one_pixel_image(tmp_path, rgb_image_path, processor):
    path = write_odd_image("tiny", tmp_path, rgb_image_path)
    pixels = processor(path, do_normalize=False).pixel_values[0]
    assert pixels.shape == (3, HEIGHT, WIDTH)
    assert pixels[:, HEIGHT // 2, WIDTH // 2].tolist() == [200, 30, 30]
    assert (pixels[:, 0, :] == 255).all() and (pixels[:, -1, :] == 255).all()  # 60x60 square, padded


@pytest.mark.parametrize("kind", ODD_KINDS)
def test_odd_images_are_processed(kind, tmp_path, rgb_image_path, processor):
    path = write_odd_image(kind, tmp_path, rgb_image_path)
    image = load_rgb_image(path)
    assert image.mode == "RGB"
    pixels = processor([path, rgb_image_path]).pixel_values
    assert pixels.shape == (2, 3, HEIGHT, WIDTH) and torch.isfinite(pixels).all()


# --- unreadable inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_unreadable_file_raises_image_load_error_naming_the_path(kind, tmp_path, rgb_image_path, processor):
    path = write_bad_file(kind, tmp_path, rgb_image_path)
    for source in (path, str(path)):
        with pytest.raises(ImageLoadError) as info:
            load_rgb_image(source)
        assert isinstance(info.value, ValueError)
        assert str(path) in str(info.value)
        with pytest.raises(ImageLoadError, match=str(path)):
            processor(source)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_list_with_unreadable_item_names_index_and_path(kind, tmp_path, image_paths, processor):
    path = write_bad_file(kind, tmp_path, image_paths[0])
    with pytest.raises(ImageLoadError) as info:
        processor([image_paths[0], image_paths[1], path, image_paths[2]])
    message = str(info.value)
    assert "item 2" in message
    assert str(path) in message


def test_per_call_size_or_normalisation_is_refused_not_ignored(rgb_image_path):
    processor = FashionImageProcessor()
    with pytest.raises(TypeError, match=r"unexpected arguments \['image_mean', 'size'\]"):
        processor(str(rgb_image_path), size={"height": 160, "width": 120}, image_mean=[0, 0, 0])


@pytest.mark.parametrize("kind", ["truncated", "empty", "bomb"])
def test_unreadable_bytes_raise_image_load_error(kind, tmp_path, rgb_image_path):
    data = write_bad_file(kind, tmp_path, rgb_image_path).read_bytes()
    with pytest.raises(ImageLoadError, match=f"{len(data)} bytes"):
        load_rgb_image(data)


def test_truncated_jpeg_is_not_silently_padded(tmp_path, rgb_image_path):
    # a global PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True (set by some libraries) would hide truncation
    import PIL.ImageFile

    assert not PIL.ImageFile.LOAD_TRUNCATED_IMAGES
    path = write_bad_file("truncated", tmp_path, rgb_image_path)
    assert PIL.Image.open(path).size == (WIDTH, HEIGHT)  # the header alone is fine
    with pytest.raises(ImageLoadError, match="truncated"):
        load_rgb_image(path)


def test_decompression_bomb_header_is_refused(tmp_path, rgb_image_path):
    path = write_bad_file("bomb", tmp_path, rgb_image_path)
    with pytest.raises(PIL.Image.DecompressionBombError):
        PIL.Image.open(path)
    with pytest.raises(ImageLoadError, match="bomb|pixels"):
        load_rgb_image(path)


def test_an_image_past_pils_pixel_limit_is_refused_before_it_is_decoded_whatever_its_form(tmp_path):
    # Between 1 and 2 x MAX_IMAGE_PIXELS PIL only warns: an 18 KB PNG took 1.5 GB and a broadcast array 3.8 GB.
    width, height = 10_000, PIL.Image.MAX_IMAGE_PIXELS // 10_000 + 1
    path = tmp_path / "large.png"
    path.write_bytes(png_bomb_header(width, height))
    sources = {"file": path, "array": np.broadcast_to(np.uint8(255), (height, width, 3)),
               "tensor": torch.zeros(1, 1, 1).expand(3, height, width),
               "float64 tensor": torch.zeros(1, 1, 1, dtype=torch.float64).expand(3, height, width)}  # fmt: skip
    for kind, source in sources.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)  # PIL's own, at open
            with pytest.raises(ImageLoadError, match=f"the image has {width * height:,} pixels .* decompression bomb"):
                load_rgb_image(source)


def test_missing_file_message(tmp_path, rgb_image_path):
    path = write_bad_file("missing", tmp_path, rgb_image_path)
    assert not os.path.exists(path)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_rgb_image(Path(path))


@pytest.fixture()
def local_http_server(image_paths):
    """A real HTTP server on loopback serving the fixture photos; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(image_paths[0].parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_gives_the_same_pixels_as_the_file(local_http_server, rgb_image_path, processor):
    from_url = processor(f"{local_http_server}/{rgb_image_path.name}")["pixel_values"]
    assert torch.equal(from_url, processor(rgb_image_path)["pixel_values"])


def test_a_url_larger_than_the_download_limit_is_refused_naming_it(local_http_server, rgb_image_path, monkeypatch):
    url = f"{local_http_server}/{rgb_image_path.name}"
    monkeypatch.setattr(image_processing_fashion_resnet, "URL_MAX_BYTES", rgb_image_path.stat().st_size - 1)
    with pytest.raises(ImageLoadError, match=re.escape(url) + ".*larger than"):
        load_rgb_image(url)
    monkeypatch.setattr(image_processing_fashion_resnet, "URL_MAX_BYTES", rgb_image_path.stat().st_size)
    assert load_rgb_image(url).size == PIL.Image.open(rgb_image_path).size


def test_a_redirect_loop_is_given_up_after_a_few_hops_naming_the_url():
    hops = []

    class Loop(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hops.append(self.path)
            self.send_response(302)
            self.send_header("Location", "/again")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Loop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    try:  # before, 21 hops, each given the whole timeout
        with pytest.raises(ImageLoadError, match=re.escape(url) + ".*redirects"):
            load_rgb_image(url)
    finally:
        server.shutdown()
        server.server_close()
    assert len(hops) == 1 + image_processing_fashion_resnet.URL_MAX_REDIRECTS


def test_a_pipe_or_a_device_is_no_image_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for path in (tmp_path / "pipe", "/dev/zero"):
        with pytest.raises(ImageLoadError, match="not a regular file"):
            load_rgb_image(path)


def test_a_url_that_trickles_in_is_given_up_at_the_timeout_naming_it(trickling_url):
    # The whole answer takes 10 s; without the deadline, it arrives, and is not an image.
    with pytest.raises(ImageLoadError, match=re.escape(trickling_url) + ".*longer than 0.5 s"):
        load_rgb_image(trickling_url, timeout=0.5)


@pytest.mark.parametrize("path", ["missing.jpg", None, "malformed"])
def test_unreachable_missing_or_malformed_url_raises_image_load_error_naming_it(local_http_server, path):
    # A refused connection (nothing listens on the discard port), a 404 and a URL that is not one (httpx's
    # InvalidURL is not among its HTTPErrors) are all clear load errors.
    special = {None: "http://127.0.0.1:9/photo.jpg", "malformed": "http://[::1/photo.jpg"}
    url = special.get(path, f"{local_http_server}/{path}")
    with pytest.raises(ImageLoadError, match=re.escape(url)):
        load_rgb_image(url)
