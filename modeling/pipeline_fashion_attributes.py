"""The `fashion-attributes` pipeline: image(s) in, top-k labels and scores per head out."""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import logging
import numbers
import os
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import PIL.Image
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset
from transformers import Pipeline
from transformers.pipelines.pt_utils import PipelineDataset

from .configuration_fashion_resnet import is_number
from .image_processing_fashion_resnet import RAW_BYTES, URL_TIMEOUT_S, ImageLoadError, ImageSource, load_rgb_image

__all__ = ["FashionAttributesPipeline"]

logger = logging.getLogger(__name__)

HeadPredictions = dict[str, list[dict[str, Any]]]
Item = TypeVar("Item")

STREAM_BATCHES = 8  # batches taken at a time from a stream of images (see `FashionAttributesPipeline._stream`)


def is_image_stream(inputs: object) -> bool:
    """Whether `inputs` is a generator, a torch `Dataset` (e.g. `KeyDataset`), a datasets column or another
    iterable of images, other than a list or tuple, and other than one input that can be iterated over."""
    one_or_a_list = (str, *RAW_BYTES, os.PathLike, PIL.Image.Image, np.ndarray, torch.Tensor, Mapping, io.IOBase,
                     list, tuple)  # fmt: skip
    return isinstance(inputs, (Iterable, Dataset)) and not isinstance(inputs, one_or_a_list)


def images_of(stream: Iterable[ImageSource] | Dataset) -> Iterator[ImageSource | ImageLoadError]:
    """The items of a stream. A torch `Dataset` (e.g. `KeyDataset`) or a sequence (a datasets column) is read by
    index up to its length, each item on its own (`item_of`): a dataset decodes an image as it is read, and the
    iteration of one would end at the first that fails (or, for a torch `Dataset`, rely on an IndexError past its
    end, which it need not raise). Anything else by iteration."""
    indexed = isinstance(stream, Sequence) or isinstance(stream, Dataset) and not isinstance(stream, IterableDataset)
    if indexed and hasattr(stream, "__len__"):
        return (item_of(stream, index) for index in range(len(stream)))
    return iter(stream)


def item_of(stream: Sequence[ImageSource] | Dataset, index: int) -> ImageSource | ImageLoadError:
    """`stream[index]`, or the error reading it raised (a datasets column raises PIL's or the file system's error
    for a bad image), as an `ImageLoadError` naming the item: its answer is that error, and the others are made."""
    try:
        return stream[index]
    except Exception as error:
        reason = "".join(traceback.format_exception_only(error)).strip()
        return ImageLoadError(f"cannot read item {index} of the {type(stream).__name__}: {reason}")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, then restore it as it was (a user's `gc.disable()` stays).

    A call builds a few containers per image and keeps them all; their count sets off collections of the
    oldest generation, each of which walks every object of the process (about 600,000 once torch and
    transformers are loaded). They find no garbage, as the answers hold no cycles: 2 to 4 of them, 0.3 s each
    on the 2-core CPU here, in a call of 49,152 images, which took 23 to 34 instead of 35 to 58 us of host time
    per image with them paused (results/h100-ema/collector_probe.txt). Process-wide, like `gc.disable()`: the
    call's worker processes, forked during it, keep it paused for their short lives, and of two threads'
    overlapping calls, the first to end turns it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def evaluation_mode(model: torch.nn.Module) -> Iterator[None]:
    """`model` in eval mode, then back in the mode it was in. A model handed over while training (during a
    fine-tuning, say) would otherwise normalise each batch by its own statistics, so that an image's answer
    depended on the images beside it, and update the running statistics with each call."""
    training = model.training
    if training:  # a walk over every module: not per batch when there is nothing to switch
        model.eval()
    try:
        yield
    finally:
        if training:
            model.train()


def one_ahead(items: Iterable[Item]) -> Iterator[Item]:
    """The items of `items` in order, each yielded only once the next one has been made."""
    iterator = iter(items)
    for current in iterator:  # the first item; the inner loop takes the rest from the same iterator
        for following in iterator:
            yield current
            current = following
        yield current


class FashionAttributesPipeline(Pipeline):
    """Predicts every head of a `FashionResNetModel` for each image.

    Inputs: a path, URL, encoded file (bytes), PIL image, array or tensor, or a list of them. Returns, per image,
    `{head: [{"label": str, "score": float}, ...]}` with `top_k` entries per head (default 1), best first:
    a list for a list. Any other iterable of images (a generator, a `KeyDataset`, a datasets column) gives an
    iterator of answers, taking `STREAM_BATCHES` batches of images from it at a time.

    A single unreadable image raises `ImageLoadError` naming it. In a list, an unreadable image does
    not stop the others: its entry is `{"error": "<why, naming the input>"}` and the rest are answered; so in a
    stream, where an item that fails as a dataset decodes it is named by its index.

    The images of a list go through in batches of `batch_size`: each batch is one item of the underlying
    `Pipeline`, preprocessed as a whole (in `num_workers` processes if asked), moved to the model's device as
    uint8, and normalised, classified and ranked there; per-image Python work is only the answer dicts, built
    with the garbage collector paused (`collector_paused`) while the device already runs the next batch.
    """

    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False
    _load_processor = False

    def _sanitize_parameters(self, top_k: int | None = None, timeout: float | None = None) -> tuple[dict, dict, dict]:
        reading, forward = {}, {}
        if top_k is not None:
            if not is_number(top_k, numbers.Integral) or top_k < 1:
                raise ValueError(f"top_k must be a whole number of at least 1, got {top_k!r}")
            forward["top_k"] = top_k
        if timeout is not None:
            if not is_number(timeout, numbers.Real) or not timeout > 0:
                raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")
            reading["timeout"] = float(timeout)
        return reading, forward, {}

    def __call__(self, inputs: ImageSource | Iterable[ImageSource], batch_size: int | None = None,
                 num_workers: int | None = None, **kwargs):
        """`top_k` (answers per head) and `timeout` (seconds for a URL's download) as at construction;
        `batch_size` and `num_workers` (preprocessing processes) as for any pipeline."""
        if hasattr(inputs, "column_names") or hasattr(inputs, "columns"):  # iterating one gives rows or names
            raise ValueError(f"a table ({type(inputs).__name__}) is not a list of images: pass its image column, "
                             "e.g. dataset['image']")
        self._sanitize_parameters(**kwargs)  # a bad top_k or timeout fails now, not at the first answer
        kwargs["num_workers"] = num_workers
        if is_image_stream(inputs):
            self._batch_size_or(batch_size)
            return self._stream(images_of(inputs), batch_size, kwargs)
        with collector_paused():
            return self._answer(inputs, batch_size, kwargs)

    def _stream(self, inputs: Iterator[ImageSource], batch_size: int | None,
                kwargs: dict) -> Iterator[HeadPredictions | dict[str, str]]:
        """The answers to an iterable of images, as an iterator: images taken `STREAM_BATCHES` batches at a time,
        so that the device stays a batch ahead and worker processes start once per chunk, not per batch."""
        chunk = self._batch_size_or(batch_size) * STREAM_BATCHES
        while images := list(itertools.islice(inputs, chunk)):
            with collector_paused():  # not while the caller holds the iterator
                answers = self._answer(images, batch_size, kwargs)
            yield from answers

    def _answer(self, inputs: ImageSource | list[ImageSource], batch_size: int | None, kwargs: dict):
        timeout = kwargs.get("timeout") or self._preprocess_params.get("timeout", URL_TIMEOUT_S)
        if not isinstance(inputs, (list, tuple)):
            return self._classify([load_rgb_image(inputs, timeout)], batch_size, kwargs)[0]
        images: list = []
        for source in inputs:
            try:
                images.append(self._read(source, timeout))
            except ImageLoadError as error:
                logger.warning("%s", error)
                images.append(error)
        readable = [image for image in images if not isinstance(image, ImageLoadError)]
        answers = iter(self._classify(readable, batch_size, kwargs))
        return [{"error": str(image)} if isinstance(image, ImageLoadError) else next(answers) for image in images]

    def _read(self, source: ImageSource, timeout: float) -> PIL.Image.Image:
        """`source` as an RGB image, fitted to the model's input now if it is larger: a list is read whole before
        its first batch, and a 12-megapixel photo takes 36 MB decoded where the fitted one takes 14 KB (80x60). The
        processor fits the fitted image again to the same pixels."""
        if isinstance(source, ImageLoadError):  # a stream's item that could not be read (`item_of`)
            raise source
        image = load_rgb_image(source, timeout)
        size = self.image_processor.size
        if image.width * image.height > size["height"] * size["width"]:
            image = PIL.Image.fromarray(self.image_processor.fit(image))
        return image

    def _classify(self, images: list[PIL.Image.Image], batch_size: int | None, kwargs: dict) -> list[HeadPredictions]:
        if not images:
            return []
        size = self._batch_size_or(batch_size)
        batches = [images[start : start + size] for start in range(0, len(images), size)]
        return [answer for batch in super().__call__(batches, **kwargs) for answer in batch]

    def _batch_size_or(self, batch_size: int | None) -> int:
        size = next(given for given in (batch_size, self._batch_size, 1) if given is not None)
        if size < 1:
            raise ValueError(f"batch_size must be at least 1, got {size}")
        return size

    def get_iterator(self, inputs: list[list[PIL.Image.Image]], num_workers: int, batch_size: int,
                     preprocess_params: dict, forward_params: dict,
                     postprocess_params: dict) -> Iterator[list[HeadPredictions]]:
        """The base class's loop, with the device one batch ahead of the answers: on a GPU, `forward` only queues
        its work, and the answers to batch i are built while batch i+1 runs. Each item of `inputs` is a batch
        already (`_classify`): neither collated nor split again, whatever `batch_size` says. On CUDA the batches
        come in pinned memory, so that their copy to the GPU is queued too, instead of holding the host until
        the batch before is done."""
        batches = DataLoader(PipelineDataset(inputs, self.preprocess, preprocess_params), batch_size=None,
                             num_workers=num_workers, pin_memory=self.device.type == "cuda")
        outputs = (self.forward(batch, **forward_params) for batch in batches)
        return (self.postprocess(output, **postprocess_params) for output in one_ahead(outputs))

    def preprocess(self, images: list[PIL.Image.Image], timeout: float | None = None) -> dict[str, torch.Tensor]:
        # `timeout` was for reading the images (`_read`), which are read by now.
        # uint8: a quarter of the bytes to move; normalised on the model's device. channels_last: no
        # reordering copy on the host, and the layout the model runs in on a GPU.
        return self.image_processor(images, do_normalize=False, channels_last=True, return_tensors="pt")

    def _forward(self, model_inputs: dict[str, torch.Tensor], top_k: int = 1) -> dict[str, tuple[torch.Tensor, ...]]:
        # float32, as `model(**processor(images))` has them: the model resizes (`input_size`) and casts them.
        pixels = self.image_processor.normalize(model_inputs["pixel_values"])
        return {
            name: head_logits.float().softmax(dim=-1).topk(min(top_k, head_logits.shape[-1]))
            for name, head_logits in self.model(pixel_values=pixels, return_dict=True).logits.items()
        }

    def forward(self, model_inputs: dict[str, torch.Tensor], **forward_params) -> dict[str, Any]:
        """The base class's, except that on a CUDA device the copies are only queued, not waited for (the base
        class waits, and with it the host, until the GPU is done): the batch's to the GPU, from pinned memory,
        and the top-k's to the host, which `postprocess` waits for on the event `copied`. Elsewhere, the copies
        are the base class's."""
        if self.device.type == "cuda":
            model_inputs = {name: tensor.to(self.device, non_blocking=True) for name, tensor in model_inputs.items()}
        with self.device_placement(), self.get_inference_context()(), evaluation_mode(self.model):
            best = self._forward(self._ensure_tensor_on_device(model_inputs, self.device), **forward_params)
        device = next(iter(best.values()))[0].device  # where the model put them: not always `self.device`
        if device.type != "cuda":  # other accelerators' non-blocking copies are not to be trusted as CUDA's are
            return {"best": self._ensure_tensor_on_device(best, torch.device("cpu")), "copied": None}
        # Pinned host tensors, filled in the stream's order; the event, recorded after them, says when.
        best = {name: tuple(t.to("cpu", non_blocking=True) for t in ranked) for name, ranked in best.items()}
        return {"best": best, "copied": torch.cuda.current_stream(device).record_event()}

    def postprocess(self, outputs: dict[str, Any]) -> list[HeadPredictions]:
        if outputs["copied"] is not None:
            outputs["copied"].synchronize()
        heads = self.model.config.heads
        ranked = {name: (scores.tolist(), ids.tolist()) for name, (scores, ids) in outputs["best"].items()}
        return [
            {
                name: [{"label": heads[name][i], "score": score} for score, i in zip(scores[row], ids[row])]
                for name, (scores, ids) in ranked.items()
            }
            for row in range(len(next(iter(ranked.values()))[0]))
        ]
