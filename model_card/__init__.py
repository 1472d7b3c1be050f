"""The model card of a trained fashion-resnet50 output folder: README.md with Hub metadata and
`model-index`, confusion matrices, class distributions and the accuracy curve under `images/`."""

from .card import EXAMPLE_IMAGE, without_local_folders_in, write_model_card

__all__ = ["EXAMPLE_IMAGE", "without_local_folders_in", "write_model_card"]
