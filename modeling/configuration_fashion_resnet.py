"""Configuration of the multi-head fashion classifier: a timm backbone and an ordered set of label heads."""

from __future__ import annotations

import json
import numbers

import numpy as np
import timm
from torch import nn
from transformers import PreTrainedConfig

__all__ = ["FashionResNetConfig", "DEFAULT_HEAD_SIZES", "is_timm_architecture"]

# Sizes only, for a config made without labels: the raw data's class counts. A trained model's heads are its
# dataset's ClassLabel names (after cleaning: 33, 37, 4 and 6 classes).
DEFAULT_HEAD_SIZES = {"articleType": 33, "baseColour": 46, "season": 4, "usage": 8}
MODULE_DICT = nn.ModuleDict()  # what the heads are kept in: its attributes cannot be head names


def is_number(value: object, kind: type) -> bool:
    """Whether `value` is a number of `kind` (numbers.Real, numbers.Integral; numpy's included), and not a bool."""
    return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))


def is_timm_architecture(name: str) -> bool:
    """Whether timm builds `name`: a model it knows, with a pretrained tag it has if one is given
    (`resnet50.a1_in1k`); `timm.is_model` looks at the part before the tag only."""
    if not timm.is_model(name):
        return False
    try:
        timm.models.get_pretrained_cfg(name)
    except RuntimeError:  # "Invalid pretrained tag"
        return False
    return True


class FashionResNetConfig(PreTrainedConfig):
    r"""
    Args:
        architecture (`str`, defaults to `"resnet50"`):
            A timm architecture name (`timm.list_models()`); its classifier is replaced by the heads.
        heads (`dict[str, list[str]]`, *optional*):
            Ordered mapping of head name to that head's label names (index = class id). Defaults to
            placeholder names in the sizes of `DEFAULT_HEAD_SIZES`. The single label set that transformers
            configs carry (`id2label`, `num_labels`: two placeholders by default) is not used.
        drop_rate (`float`, defaults to 0.0):
            Dropout on the pooled features, before the heads.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth in training: the chance of skipping a residual block, rising linearly over the
            blocks to this in the last (timm's `drop_path_rate`).
        input_size (`list[int]`, *optional*):
            `[height, width]` the backbone sees: the model resizes (bilinear) `pixel_values` of another size on
            its own device first. The photos are 80x60, which ResNet-50's 32x downsampling would reduce to a
            3x2 feature map; upscaling inside the model keeps the processor, its uint8 batches and the
            training cache at the photos' own size. `None`: the backbone sees `pixel_values` as given.
    """

    model_type = "fashion_resnet"

    architecture: str = "resnet50"
    heads: dict[str, list[str]] | None = None
    drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    input_size: list[int] | None = None

    def __post_init__(self, **kwargs):
        if self.heads is None:
            self.heads = {name: [f"{name}_{i}" for i in range(n)] for name, n in DEFAULT_HEAD_SIZES.items()}
        self._normalise_and_check()
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        # `from_pretrained(folder, heads=...)` reaches here: the base class sets such overrides after
        # construction, past `__post_init__`, so they are checked here.
        result = super().from_dict(config_dict, **kwargs)
        (result[0] if isinstance(result, tuple) else result)._normalise_and_check()
        return result

    def _normalise_and_check(self) -> None:
        # Fail with the offending name rather than deep inside timm or a loss function.
        if not isinstance(self.heads, dict):
            raise ValueError(f"heads must map each head's name to its label names, got {self.heads!r}")
        for name, labels in self.heads.items():
            # Each head is a module of an nn.ModuleDict, which refuses such names with a KeyError naming no head.
            if not isinstance(name, str) or not name or "." in name or hasattr(MODULE_DICT, name):
                raise ValueError(f"head name {name!r} cannot name a module: it must be a non-empty string without "
                                 "'.' and not an attribute of torch.nn.ModuleDict (such as 'type' or 'training')")
            # A dict of sizes (DEFAULT_HEAD_SIZES) or a single string is an easy mistake: say which head.
            if not isinstance(labels, (list, tuple)) or not all(isinstance(label, str) for label in labels):
                raise ValueError(f"head {name!r} needs a list of label names, got {labels!r}")
        self.heads = {name: list(labels) for name, labels in self.heads.items()}
        if self.input_size is not None:
            if not isinstance(self.input_size, (list, tuple)):
                raise ValueError(f"input_size must be [height, width], got {self.input_size!r}")
            self.input_size = list(self.input_size)
        if not is_timm_architecture(self.architecture):
            raise ValueError(f"unknown timm architecture {self.architecture!r} (see timm.list_models())")
        if not self.heads:
            raise ValueError("a FashionResNetConfig needs at least one head")
        for name, labels in self.heads.items():
            if not labels:
                raise ValueError(f"head {name!r} has no labels")
            duplicates = sorted({label for label in labels if labels.count(label) > 1})
            if duplicates:
                raise ValueError(f"head {name!r} has duplicate labels: {duplicates}")
        # Numbers are stored as Python's own (a numpy float or int would pass the checks, then fail
        # save_pretrained's JSON at the end of a run, leaving an empty config.json) and bools are none.
        for name in ("drop_rate", "drop_path_rate"):
            value = getattr(self, name)
            if not is_number(value, numbers.Real) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
            setattr(self, name, float(value))
        if self.input_size is not None:
            sizes = self.input_size
            if len(sizes) != 2 or not all(is_number(size, numbers.Integral) and size >= 1 for size in sizes):
                raise ValueError(f"input_size must be [height, width] of whole positive sizes, got {self.input_size}")
            self.input_size = [int(n) for n in self.input_size]

    def to_json_string(self, use_diff: bool = True) -> str:
        # The base class writes with sort_keys=True, which sorts nested dicts too: config.json would list the
        # heads alphabetically and a reload would silently reorder them (logits, pipeline output, and the
        # columns of a (batch, heads) labels tensor). Keep insertion order instead.
        config_dict = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(self._encode_special_floats(config_dict), indent=2) + "\n"

    @property
    def head_sizes(self) -> dict[str, int]:
        """Number of classes per head, in head order."""
        return {name: len(labels) for name, labels in self.heads.items()}
