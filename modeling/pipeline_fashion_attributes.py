"""The `fashion-attributes` pipeline: image(s) in, top-k labels and scores per head out."""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import Pipeline

from .image_processing_fashion_resnet import ImageLoadError, ImageSource, load_rgb_image

__all__ = ["FashionAttributesPipeline"]

logger = logging.getLogger(__name__)

HeadPredictions = dict[str, list[dict[str, Any]]]


class FashionAttributesPipeline(Pipeline):
    """Predicts every head of a `FashionResNetModel` for each image.

    Inputs: a path, URL, PIL image, array or tensor, or a list of them. Returns, per image,
    `{head: [{"label": str, "score": float}, ...]}` with `top_k` entries per head (default 1), best first.

    A single unreadable image raises `ImageLoadError` naming it. In a list, an unreadable image does
    not stop the others: its entry is `{"error": "<why, naming the input>"}` and the rest are answered.
    """

    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False
    _load_processor = False

    def _sanitize_parameters(self, top_k: int | None = None) -> tuple[dict, dict, dict]:
        forward = {}
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k must be at least 1, got {top_k}")
            forward["top_k"] = top_k
        return {}, forward, {}

    def __call__(self, inputs: ImageSource | list[ImageSource], **kwargs) -> HeadPredictions | list:
        if not isinstance(inputs, (list, tuple)):
            return super().__call__(load_rgb_image(inputs), **kwargs)
        images: list = []
        for source in inputs:
            try:
                images.append(load_rgb_image(source))
            except ImageLoadError as error:
                logger.warning("%s", error)
                images.append(error)
        readable = [image for image in images if not isinstance(image, ImageLoadError)]
        answers = iter(super().__call__(readable, **kwargs) if readable else [])
        return [{"error": str(image)} if isinstance(image, ImageLoadError) else next(answers) for image in images]

    def preprocess(self, image) -> dict[str, torch.Tensor]:
        # uint8: a quarter of the bytes to move; normalised on the model's device, a batch at a time.
        return self.image_processor(image, do_normalize=False, return_tensors="pt")

    def _forward(self, model_inputs: dict[str, torch.Tensor], top_k: int = 1) -> dict[str, torch.Tensor]:
        # Softmax and top-k for the whole batch on the model's device; the batcher splits a flat dict of tensors.
        pixels = self.image_processor.normalize(model_inputs["pixel_values"], dtype=self.model.dtype)
        best = {}
        for name, head_logits in self.model(pixel_values=pixels).logits.items():
            scores, ids = head_logits.float().softmax(dim=-1).topk(min(top_k, head_logits.shape[-1]))
            best[f"{name}.scores"], best[f"{name}.ids"] = scores, ids
        return best

    def postprocess(self, best: dict[str, torch.Tensor]) -> HeadPredictions:
        return {
            name: [
                {"label": labels[i], "score": score}
                for score, i in zip(best[f"{name}.scores"][0].tolist(), best[f"{name}.ids"][0].tolist())
            ]
            for name, labels in self.model.config.heads.items()
        }
