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
        postprocess = {}
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k must be at least 1, got {top_k}")
            postprocess["top_k"] = top_k
        return {}, {}, postprocess

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
        return self.image_processor(image, return_tensors="pt")

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # Softmax on the model's device; a plain dict of tensors is what the pipeline batcher can split.
        logits = self.model(**model_inputs).logits
        return {name: head_logits.float().softmax(dim=-1) for name, head_logits in logits.items()}

    def postprocess(self, probabilities: dict[str, torch.Tensor], top_k: int = 1) -> HeadPredictions:
        predictions = {}
        for name, labels in self.model.config.heads.items():
            scores, ids = probabilities[name][0].topk(min(top_k, len(labels)))
            predictions[name] = [
                {"label": labels[i], "score": score} for score, i in zip(scores.tolist(), ids.tolist())
            ]
        return predictions
