"""A timm backbone whose pooled features feed one linear classifier per attribute."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import timm
import torch
import torch.nn.functional as F
from timm.layers import use_reentrant_ckpt
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_fashion_resnet import FashionResNetConfig
# Not used here: a custom model's `save_pretrained` copies its module's relative imports next to the weights,
# and config.json names this pipeline (`custom_pipelines`), so a re-saved model must carry its file too.
from .pipeline_fashion_attributes import FashionAttributesPipeline  # noqa: F401

__all__ = ["FashionResNetModel", "FashionResNetOutput", "IGNORE_INDEX", "multi_head_loss"]

IGNORE_INDEX = -100  # a label equal to this is skipped by the loss (an unknown value for that head)

Labels = torch.Tensor | Mapping[str, torch.Tensor]


@dataclass
class FashionResNetOutput(ModelOutput):
    """
    loss: mean over heads of each head's cross-entropy, when labels are given.
    logits: head name -> (batch, classes) logits, in config head order.
    pooler_output: (batch, features) pooled backbone features, usable as an image embedding.
    hidden_states: with `output_hidden_states`, the backbone's feature maps after its stem and each stage
        (timm's `forward_intermediates`).
    """

    loss: torch.Tensor | None = None
    logits: dict[str, torch.Tensor] | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


def multi_head_loss(
    logits: Mapping[str, torch.Tensor],
    labels: Labels,
    label_smoothing: float = 0.0,
    class_weights: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Mean over heads of the cross-entropy averaged over the examples that have a label for that head.

    `labels` is a mapping head -> (batch,) class ids, or a (batch, heads) tensor in `logits` order;
    `IGNORE_INDEX` marks a missing label. A head with no labels in the batch contributes 0.
    """
    if isinstance(labels, torch.Tensor):
        if labels.ndim != 2 or labels.shape[1] != len(logits):
            raise ValueError(f"labels of shape {tuple(labels.shape)}: expected (batch, {len(logits)}), one column "
                             f"per head in the order {list(logits)}")  # fmt: skip
        labels = dict(zip(logits, labels.unbind(dim=1)))
    missing = [name for name in logits if name not in labels]
    if missing:
        raise ValueError(f"labels have no entry for the heads {missing}")
    losses = []
    for name, head_logits in logits.items():
        target = labels[name]
        try:
            summed = F.cross_entropy(
                head_logits.float(),
                target,
                weight=None if class_weights is None else class_weights[name],
                ignore_index=IGNORE_INDEX,
                label_smoothing=label_smoothing,
                reduction="sum",
            )
        except IndexError as error:  # torch's message names neither the head nor its classes
            raise ValueError(f"labels of head {name!r} must be its class ids, 0 to {head_logits.shape[-1] - 1}, or "
                             f"{IGNORE_INDEX} for none: {error}") from error
        # Divide by the count on-device: no host sync, and no NaN for a batch where the head is all-ignored.
        losses.append(summed / (target != IGNORE_INDEX).sum().clamp(min=1))
    return torch.stack(losses).mean()


CHECKPOINT_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(checkpoint).parameters.items()
                       if parameter.default is not inspect.Parameter.empty}  # fmt: skip


def checkpointing_not_done_by_timm(gradient_checkpointing_func: Callable, every_n_layers: int) -> str | None:
    """What of transformers' activation checkpointing settings timm's `set_grad_checkpointing` would not do, which
    checkpoints every block with torch's `checkpoint` and timm's `use_reentrant`; None if it does them all."""
    settings = dict(getattr(gradient_checkpointing_func, "keywords", {}))
    use_reentrant = settings.pop("use_reentrant", use_reentrant_ckpt())
    if every_n_layers != 1:
        return f"every_n_layers={every_n_layers}"
    if getattr(gradient_checkpointing_func, "func", gradient_checkpointing_func) is not checkpoint:
        return "offload or another checkpoint function"
    changed = sorted(name for name, value in settings.items()
                     if name not in CHECKPOINT_DEFAULTS or CHECKPOINT_DEFAULTS[name] != value)  # fmt: skip
    if changed:  # torch's defaults are what timm's checkpoint runs with
        return f"the checkpoint arguments {changed}"
    if use_reentrant != use_reentrant_ckpt():  # timm.layers.set_reentrant_ckpt chooses it, for every timm model
        return f"use_reentrant={use_reentrant} (timm's is {use_reentrant_ckpt()}: timm.layers.set_reentrant_ckpt)"
    return None


class FashionResNetPreTrainedModel(PreTrainedModel):
    config_class = FashionResNetConfig
    config: FashionResNetConfig
    base_model_prefix = "fashion_resnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    # `device_map` over several devices must not split a residual block: its sum needs both branches on one.
    _no_split_modules = ["BasicBlock", "Bottleneck"]

    @classmethod
    def from_pretrained(cls, *args, use_safetensors: bool | None = True, **kwargs):
        """`PreTrainedModel.from_pretrained`, safetensors only unless asked otherwise: a folder or repo holding
        only a pickled checkpoint (`pytorch_model.bin`) is refused instead of unpickled."""
        return super().from_pretrained(*args, use_safetensors=use_safetensors, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        # At construction only the heads are initialised here: `FashionResNetModel.__init__` marks the backbone's
        # tensors as initialised, since timm's own initialisation (e.g. ResNet's zero-init last BN) is the one
        # to keep. `from_pretrained` also calls this for the tensors the checkpoint did not give (a missing key,
        # a head resized by `ignore_mismatched_sizes`), which are empty memory until then: a backbone conv gets
        # timm's ResNet rule, any other layer transformers' generic one (a norm: weight 1, bias 0, running
        # statistics 0 and 1); transformers' init functions skip loaded tensors.
        if isinstance(module, nn.Linear) and module in self.heads.modules():
            init.normal_(module.weight, std=0.01)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        else:
            super()._init_weights(module)

    def _set_gradient_checkpointing(
        self, enable: bool = True, gradient_checkpointing_func: Callable = checkpoint, every_n_layers: int = 1
    ) -> None:
        if enable:
            refused = checkpointing_not_done_by_timm(gradient_checkpointing_func, every_n_layers)
            if refused:
                raise ValueError(f"activation checkpointing here is timm's own, every block of the backbone: {refused} "
                                 "cannot be honoured")
        self.backbone.set_grad_checkpointing(enable)
        # transformers' `is_activation_checkpointing` looks for a `gradient_checkpointing` attribute; timm's
        # flag is `grad_checkpointing`, so without this the model reported False while checkpointing.
        self.gradient_checkpointing = enable


class FashionResNetModel(FashionResNetPreTrainedModel):
    def __init__(self, config: FashionResNetConfig) -> None:
        super().__init__(config)
        # num_classes=0 makes timm return pooled features; its drop_rate applies dropout before the (absent) fc.
        self.backbone = timm.create_model(
            config.architecture, pretrained=False, num_classes=0, drop_rate=config.drop_rate,
            drop_path_rate=config.drop_path_rate,
        )
        if next(self.backbone.parameters()).device.type != "meta":  # on meta, `from_pretrained` marks what it loads
            for tensor in itertools.chain(self.backbone.parameters(), self.backbone.buffers()):
                tensor._is_hf_initialized = True  # timm's initialisation stands (see `_init_weights`)
        self.heads = nn.ModuleDict(
            {name: nn.Linear(self.backbone.num_features, size) for name, size in config.head_sizes.items()}
        )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: Labels | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> FashionResNetOutput | tuple:
        """`pixel_values`: normalised (batch, 3, H, W), resized to `config.input_size` if that is set.
        `labels`: see `multi_head_loss`."""
        if not pixel_values.is_floating_point():  # read as normalised, 0-255 pixels give confident nonsense
            raise ValueError(f"pixel_values are {pixel_values.dtype}, not normalised floats: give the processor's "
                             "default output, or pass uint8 pixels through FashionImageProcessor.normalize first")
        input_size = self.config.input_size
        if input_size is not None and list(pixel_values.shape[-2:]) != input_size:
            pixel_values = F.interpolate(pixel_values, size=tuple(input_size), mode="bilinear", align_corners=False)
        pixel_values = pixel_values.to(self.dtype)
        if self.config.output_hidden_states if output_hidden_states is None else output_hidden_states:
            feature_map, hidden_states = self.backbone.forward_intermediates(pixel_values)
            hidden_states = tuple(hidden_states)
        else:
            feature_map, hidden_states = self.backbone.forward_features(pixel_values), None
        features = self.backbone.forward_head(feature_map)
        logits = {name: head(features) for name, head in self.heads.items()}
        loss = None if labels is None else multi_head_loss(logits, labels)
        output = FashionResNetOutput(loss=loss, logits=logits, pooler_output=features, hidden_states=hidden_states)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()
