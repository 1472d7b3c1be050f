"""FashionResNetConfig and FashionResNetModel: defaults, validation, serialisation, outputs, loss, gradients."""

from __future__ import annotations

import json
import re
import warnings

import accelerate
import numpy as np
import pytest
import safetensors.torch
import timm
import torch
import torch.nn.functional as F
from conftest import TINY_ARCHITECTURE, TINY_HEADS, make_tiny_model, tiny_config

from modeling import (
    DEFAULT_HEAD_SIZES,
    IGNORE_INDEX,
    FashionImageProcessor,
    FashionResNetConfig,
    FashionResNetModel,
    FashionResNetOutput,
    multi_head_loss,
)

# --- config ------------------------------------------------------------------------------------------------


def test_config_defaults():
    config = FashionResNetConfig()  # config only: no resnet50 is instantiated
    assert config.architecture == "resnet50"
    assert config.model_type == "fashion_resnet"
    assert DEFAULT_HEAD_SIZES == {"articleType": 33, "baseColour": 46, "season": 4, "usage": 8}
    assert list(config.heads) == ["articleType", "baseColour", "season", "usage"]
    assert config.head_sizes == DEFAULT_HEAD_SIZES
    assert config.drop_rate == 0.0
    for name, labels in config.heads.items():
        assert len(set(labels)) == len(labels) == DEFAULT_HEAD_SIZES[name]


def test_config_json_round_trip_keeps_head_order_and_labels(tmp_path):
    config = tiny_config(drop_rate=0.25)
    assert list(config.heads) != sorted(config.heads), "the fixture heads must not be alphabetical"

    from_string = FashionResNetConfig.from_dict(json.loads(config.to_json_string()))
    config.save_pretrained(tmp_path)
    on_disk = json.loads((tmp_path / "config.json").read_text())
    from_folder = FashionResNetConfig.from_pretrained(tmp_path)

    assert list(on_disk["heads"]) == list(TINY_HEADS)  # the file itself keeps the order
    for loaded in (from_string, from_folder):
        assert list(loaded.heads) == list(TINY_HEADS)
        assert loaded.heads == TINY_HEADS
        for name in TINY_HEADS:
            assert loaded.heads[name] == TINY_HEADS[name]  # label order = class ids
        assert loaded.architecture == "test_resnet"
        assert loaded.drop_rate == 0.25
        assert loaded.head_sizes == config.head_sizes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heads": {"season": ["Summer"], "usage": []}}, "usage"),
        ({"heads": {"season": ["Summer", "Fall", "Summer"]}}, "Summer"),
        ({"heads": {}}, "head"),
        ({"architecture": "resnet_does_not_exist"}, "resnet_does_not_exist"),
        ({"architecture": "test_resnet.no_such_tag"}, "'test_resnet.no_such_tag'"),  # before, timm failed later
        ({"drop_rate": 1.5}, "drop_rate"),
        ({"drop_path_rate": -0.1}, "drop_path_rate"),
        ({"input_size": [160]}, "input_size"),
        ({"input_size": [160, 0]}, "input_size"),
        ({"input_size": [160.5, 120]}, "input_size"),
        ({"input_size": 224}, "input_size"),
        ({"input_size": [True, True]}, "input_size"),  # before, accepted; the first forward failed in torch
        ({"drop_rate": "0.1"}, "drop_rate must be a number"),  # before, a TypeError from the comparison
        ({"heads": {"season": 4, "usage": 8}}, "'season' needs a list of label names, got 4"),
        ({"heads": {"season": "Summer"}}, "'season' needs a list of label names"),
        ({"heads": ["Summer", "Fall"]}, "heads must map"),
        ({"heads": {"season": ["Summer"], "type": ["Casual"]}}, "head name 'type'"),
        ({"heads": {"sub.category": ["Shoes"]}}, "head name 'sub.category'"),
        ({"heads": {"": ["Shoes"]}}, "head name ''"),
    ],
    ids=["head-without-labels", "duplicate-labels", "no-heads", "unknown-architecture", "unknown-tag", "bad-drop-rate",
         "bad-drop-path-rate", "input-size-not-a-pair", "input-size-zero", "input-size-not-whole",
         "input-size-not-a-list", "input-size-bools", "drop-rate-a-string", "head-sizes-not-labels", "head-a-string",
         "heads-not-a-mapping", "head-named-as-a-module-attribute", "head-name-with-a-dot", "head-name-empty"],
)
@pytest.mark.parametrize("made_by", ["constructor", "from_pretrained"])
def test_invalid_config_raises_naming_the_problem(kwargs, message, made_by, tmp_path):
    with pytest.raises(ValueError, match=message):
        if made_by == "constructor":
            FashionResNetConfig(**kwargs)
        else:  # fine-tuning with new heads: the keyword arguments override the saved config's
            tiny_config().save_pretrained(tmp_path)
            FashionResNetConfig.from_pretrained(tmp_path, **kwargs)


def test_config_overrides_given_to_from_pretrained_are_normalised(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    config = FashionResNetConfig.from_pretrained(tmp_path, input_size=(160, 120), heads={"season": ("Fall", "Summer")})
    assert config.input_size == [160, 120] and config.heads == {"season": ["Fall", "Summer"]}


def test_numpy_numbers_are_kept_as_pythons_so_that_the_model_saves(tmp_path):
    # Before, a numpy float passed the checks and trained, then save_pretrained failed at the end of the run,
    # leaving an empty config.json.
    config = tiny_config(drop_rate=np.float32(0.25), input_size=list(np.array([96, 72])))
    assert (type(config.drop_rate), [type(size) for size in config.input_size]) == (float, [int, int])
    FashionResNetModel(config).save_pretrained(tmp_path)
    assert FashionResNetConfig.from_pretrained(tmp_path).input_size == [96, 72]


def test_uint8_pixels_are_refused_not_answered(tiny_model, rgb_image_path):
    # The processor's do_normalize=False output: read as normalised, its logits were hundreds wide, with no error.
    pixels = FashionImageProcessor()(rgb_image_path, do_normalize=False).pixel_values
    with pytest.raises(ValueError, match="pixel_values are torch.uint8, not normalised floats"):
        tiny_model(pixels)


def test_an_architecture_with_a_pretrained_tag_timm_has_is_accepted():
    config = FashionResNetConfig(architecture="test_resnet.r160_in1k", heads=TINY_HEADS)
    assert config.architecture == "test_resnet.r160_in1k"


def test_duplicate_label_message_names_the_head():
    with pytest.raises(ValueError, match=r"season.*duplicate|duplicate.*season"):
        FashionResNetConfig(architecture="test_resnet", heads={"season": ["Fall", "Fall"]})


# --- forward and loss --------------------------------------------------------------------------------------


@pytest.fixture
def pixels(image_paths, processor) -> torch.Tensor:
    return processor(image_paths[:4]).pixel_values


def random_labels(batch: int, generator_seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(generator_seed)
    return {name: torch.randint(len(labels), (batch,), generator=generator) for name, labels in TINY_HEADS.items()}


def test_output_shapes_per_head(tiny_model, pixels):
    with torch.no_grad():
        output = tiny_model(pixels)
    assert isinstance(output, FashionResNetOutput)
    assert output.loss is None
    assert list(output.logits) == list(TINY_HEADS)
    for name, labels in TINY_HEADS.items():
        assert output.logits[name].shape == (4, len(labels))
        assert output.logits[name].dtype == torch.float32
    assert output.pooler_output.shape == (4, tiny_model.backbone.num_features)
    assert torch.isfinite(output.pooler_output).all()

    as_tuple = tiny_model(pixels, return_dict=False)
    assert isinstance(as_tuple, tuple)
    assert torch.equal(as_tuple[0]["season"], output.logits["season"])


def test_hidden_states_are_the_backbone_stages_when_asked(tiny_model, pixels, tmp_path):
    with torch.no_grad():
        plain = tiny_model(pixels)
        asked = tiny_model(pixels, output_hidden_states=True)
        _, stages = tiny_model.backbone.forward_intermediates(pixels)
    assert plain.hidden_states is None
    assert len(asked.hidden_states) == len(stages) > 1
    for given, stage in zip(asked.hidden_states, stages):
        assert torch.equal(given, stage)
    assert torch.equal(asked.pooler_output, plain.pooler_output)
    tiny_model.save_pretrained(tmp_path)  # the option set at load time, as transformers models take it
    from_config = FashionResNetModel.from_pretrained(tmp_path, output_hidden_states=True).eval()
    with torch.no_grad():
        assert len(from_config(pixels).hidden_states) == len(stages)


def expected_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over heads of the mean cross-entropy over that head's labelled examples (computed independently)."""
    per_head = []
    for name, head_logits in logits.items():
        keep = labels[name] != IGNORE_INDEX
        if keep.any():
            per_head.append(F.cross_entropy(head_logits[keep], labels[name][keep]))
        else:
            per_head.append(head_logits.sum() * 0.0)
    return torch.stack(per_head).mean()


def test_loss_with_labels_as_dict_and_as_tensor(tiny_model, pixels):
    labels = random_labels(4)
    as_tensor = torch.stack([labels[name] for name in TINY_HEADS], dim=1)  # (batch, heads) in head order
    assert as_tensor.shape == (4, len(TINY_HEADS))
    with torch.no_grad():
        from_dict = tiny_model(pixels, labels=labels)
        from_tensor = tiny_model(pixels, labels=as_tensor)
    reference = expected_loss(from_dict.logits, labels)
    assert from_dict.loss.shape == ()
    torch.testing.assert_close(from_dict.loss, reference, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(from_tensor.loss, reference, atol=1e-6, rtol=1e-6)
    # The loss depends on the labels (a wrong column order would change it).
    swapped = as_tensor.clone()
    swapped[:, 0] = (swapped[:, 0] + 1) % len(TINY_HEADS["season"])
    with torch.no_grad():
        assert not torch.isclose(tiny_model(pixels, labels=swapped).loss, reference)


@pytest.mark.parametrize("columns", [len(TINY_HEADS) - 1, len(TINY_HEADS) + 1])
def test_labels_with_a_column_per_head_too_few_or_many_are_refused(tiny_model, pixels, columns):
    labels = torch.zeros(len(pixels), columns, dtype=torch.int64)
    with pytest.raises(ValueError, match=rf"expected \(batch, {len(TINY_HEADS)}\)"):
        tiny_model(pixels, labels=labels)


@pytest.mark.parametrize("bad_label", [len(TINY_HEADS["usage"]), -5])
def test_a_label_outside_its_heads_classes_is_refused_naming_the_head(tiny_model, pixels, bad_label):
    # Labels encoded for another config; torch's own message ("Target 2 is out of bounds.") names no head.
    labels = random_labels(len(pixels))
    labels["usage"][1] = bad_label
    with pytest.raises(ValueError, match=r"labels of head 'usage' must be its class ids, 0 to 1, or -100 for none"):
        tiny_model(pixels, labels=labels)


def test_ignored_label_is_skipped_for_that_head_only(tiny_model, pixels):
    labels = random_labels(4)
    labels["articleType"][1] = IGNORE_INDEX
    with torch.no_grad():
        output = tiny_model(pixels, labels=labels)
    logits = output.logits
    keep = torch.tensor([0, 2, 3])
    per_head = []
    for name in TINY_HEADS:
        if name == "articleType":  # loss without example 1 for this head
            per_head.append(F.cross_entropy(logits[name][keep], labels[name][keep]))
        else:
            per_head.append(F.cross_entropy(logits[name], labels[name]))
    torch.testing.assert_close(output.loss, torch.stack(per_head).mean(), atol=1e-6, rtol=1e-6)
    # and multi_head_loss (used for training) agrees
    torch.testing.assert_close(multi_head_loss(logits, labels), output.loss)


def test_head_with_all_labels_ignored_gives_finite_loss_and_grads(tiny_model, pixels):
    labels = random_labels(4)
    labels["usage"][:] = IGNORE_INDEX
    tiny_model.train()
    output = tiny_model(pixels, labels=labels)
    assert torch.isfinite(output.loss)
    output.loss.backward()
    for name, parameter in tiny_model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    # the all-ignored head gets no gradient signal
    assert torch.count_nonzero(tiny_model.heads["usage"].weight.grad) == 0
    # all heads ignored: still finite (0), no NaN from 0/0
    everything_ignored = {name: torch.full((4,), IGNORE_INDEX) for name in TINY_HEADS}
    assert torch.isfinite(tiny_model(pixels, labels=everything_ignored).loss)


def test_every_parameter_receives_a_gradient(tiny_model, pixels):
    tiny_model.train()
    tiny_model(pixels, labels=random_labels(4)).loss.backward()
    for name, parameter in tiny_model.named_parameters():
        assert parameter.requires_grad, name
        assert parameter.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), name
        assert torch.count_nonzero(parameter.grad) > 0, f"{name} has an all-zero gradient"


def loss_and_grads(model, pixels, labels):
    model.zero_grad(set_to_none=True)
    loss = model(pixels, labels=labels).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize(("settings", "named"), [
    ({"every_n_layers": 2}, "every_n_layers=2"),
    ({"offload": True}, "offload or another checkpoint function"),
    ({"activation_checkpointing_kwargs": {"use_reentrant": False, "preserve_rng_state": False}},
     "the checkpoint arguments ['preserve_rng_state']"),
    ({"activation_checkpointing_kwargs": {"use_reentrant": True}}, "use_reentrant=True (timm's is False"),
])  # fmt: skip
def test_checkpointing_settings_timm_does_not_do_are_refused_not_ignored(tiny_model, settings, named):
    # Before, each was accepted and silently not done: timm checkpoints every block its own way.
    with pytest.raises(ValueError, match=re.escape(named) + ".* cannot be honoured"):
        tiny_model.activation_checkpointing_enable(**settings)
    assert not tiny_model.backbone.grad_checkpointing
    # torch's defaults are timm's: given explicitly, they are no other setting.
    tiny_model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False,
                                                                               "preserve_rng_state": True})
    assert tiny_model.backbone.grad_checkpointing


@pytest.mark.parametrize("method", ["gradient_checkpointing_enable", "activation_checkpointing_enable"])
def test_gradient_checkpointing_gives_same_loss_and_grads(tiny_model, pixels, method):
    if not hasattr(tiny_model, method):
        pytest.skip(f"this transformers has no {method}")
    labels = random_labels(4)
    tiny_model.train()
    # Count forward calls of one residual block: checkpointing recomputes it during backward.
    calls = []
    tiny_model.backbone.layer1[0].register_forward_pre_hook(lambda *args: calls.append(1))

    plain_loss, plain_grads = loss_and_grads(tiny_model, pixels, labels)
    assert len(calls) == 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # gradient_checkpointing_enable is a deprecated alias
        getattr(tiny_model, method)()
        assert tiny_model.is_activation_checkpointing if hasattr(tiny_model, "is_activation_checkpointing") else True
        assert tiny_model.is_gradient_checkpointing
    assert tiny_model.backbone.grad_checkpointing
    calls.clear()
    ckpt_loss, ckpt_grads = loss_and_grads(tiny_model, pixels, labels)
    assert len(calls) == 2, "checkpointing is not active: the block was not recomputed in backward"

    torch.testing.assert_close(ckpt_loss, plain_loss, atol=1e-6, rtol=1e-6)
    assert ckpt_grads.keys() == plain_grads.keys()
    for name in plain_grads:
        torch.testing.assert_close(ckpt_grads[name], plain_grads[name], atol=1e-5, rtol=1e-4, msg=name)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tiny_model.gradient_checkpointing_disable()
        assert not tiny_model.is_gradient_checkpointing
    assert not tiny_model.backbone.grad_checkpointing
    calls.clear()
    loss_and_grads(tiny_model, pixels, labels)
    assert len(calls) == 1


def test_eval_batch_equals_single_forward_passes(tiny_model, image_paths, processor):
    pixels = processor(image_paths).pixel_values
    with torch.no_grad():
        batched = tiny_model(pixels).logits
        singles = [tiny_model(pixels[i : i + 1]).logits for i in range(len(pixels))]
    for name in TINY_HEADS:
        torch.testing.assert_close(batched[name], torch.cat([s[name] for s in singles]), atol=1e-5, rtol=0)


def test_train_mode_dropout_is_applied_to_features():
    model = make_tiny_model(drop_rate=0.5)
    pixels = torch.randn(2, 3, 80, 60)
    with torch.no_grad():
        torch.testing.assert_close(model(pixels).logits["season"], model(pixels).logits["season"])
        model.train()
        torch.manual_seed(0)
        first = model(pixels).pooler_output
        assert not torch.equal(first, model(pixels).pooler_output)


def test_stochastic_depth_skips_blocks_in_training_only_and_travels_with_the_config(pixels, tmp_path):
    model = make_tiny_model(drop_path_rate=0.5)
    model.save_pretrained(tmp_path)
    loaded = FashionResNetModel.from_pretrained(tmp_path)
    assert loaded.config.drop_path_rate == 0.5
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels).logits, model(pixels).logits)  # eval: every block, always
        loaded.train()
        torch.manual_seed(0)
        first = loaded(pixels).pooler_output
        assert not torch.equal(first, loaded(pixels).pooler_output)
        steady = make_tiny_model().train()  # the control: without it, training mode gives the same twice
        assert torch.equal(steady(pixels).pooler_output, steady(pixels).pooler_output)


def test_input_size_upscales_inside_the_model_and_survives_a_save(tiny_model, pixels, tmp_path):
    upscaling = make_tiny_model(input_size=[160, 120])
    upscaling.load_state_dict(tiny_model.state_dict())
    larger = F.interpolate(pixels, size=(160, 120), mode="bilinear", align_corners=False)
    with torch.no_grad():
        # The 80x60 batch as the backbone sees it: the same as feeding the model without input_size the
        # upscaled batch, and not the same as the 80x60 batch itself.
        upscaled, given_larger = upscaling(pixels).logits, tiny_model(larger).logits
        native = tiny_model(pixels).logits
        torch.testing.assert_close(upscaled["season"], given_larger["season"])
        assert not torch.allclose(upscaled["season"], native["season"])
        torch.testing.assert_close(upscaling(larger).logits["season"], given_larger["season"])  # already that size
    upscaling.save_pretrained(tmp_path)
    assert FashionResNetModel.from_pretrained(tmp_path).config.input_size == [160, 120]


def test_new_model_heads_start_small_and_backbone_keeps_timm_init():
    torch.manual_seed(0)
    model = FashionResNetModel(tiny_config())
    for head in model.heads.values():
        assert head.weight.std() < 0.05
        assert torch.count_nonzero(head.bias) == 0
    # timm's ResNet zero-initialises the last BN of each residual block; a generic re-init would not.
    assert torch.count_nonzero(model.backbone.layer1[0].bn2.weight) == 0
    torch.manual_seed(0)
    timm_backbone = timm.create_model(TINY_ARCHITECTURE, num_classes=0)
    for name, tensor in timm_backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], tensor), name


def test_a_non_resnet_backbone_missing_linear_and_norm_weights_gets_them_initialised(tmp_path):
    FashionResNetModel(tiny_config(architecture="test_vit")).save_pretrained(tmp_path)
    weights = safetensors.torch.load_file(tmp_path / "model.safetensors")
    missing = ["backbone.blocks.0.mlp.fc1.weight", "backbone.blocks.0.norm1.weight"]
    safetensors.torch.save_file({k: v for k, v in weights.items() if k not in missing}, tmp_path / "model.safetensors",
                                metadata={"format": "pt"})  # fmt: skip
    block = FashionResNetModel.from_pretrained(tmp_path).backbone.blocks[0]
    assert torch.isfinite(block.mlp.fc1.weight).all() and 0 < block.mlp.fc1.weight.std() < 0.1
    assert torch.equal(block.norm1.weight, torch.ones_like(block.norm1.weight))


def test_a_device_map_over_two_devices_keeps_each_residual_block_whole():
    with accelerate.init_empty_weights():
        model = FashionResNetModel(FashionResNetConfig(architecture="resnet50", heads=TINY_HEADS))
    total = accelerate.utils.compute_module_sizes(model)[""]
    device_map = accelerate.infer_auto_device_map(model, max_memory={0: total // 2, 1: total},
                                                  no_split_module_classes=model._no_split_modules)  # fmt: skip
    assert set(device_map.values()) == {0, 1}  # split, but between blocks
    assert all(key.count(".") <= 2 for key in device_map if key.startswith("backbone.layer")), device_map


def test_weights_missing_from_a_checkpoint_are_initialised_and_the_others_loaded(tmp_path):
    model = make_tiny_model()
    model.save_pretrained(tmp_path)
    weights = safetensors.torch.load_file(tmp_path / "model.safetensors")
    first_conv = next(key for key, tensor in weights.items() if key.startswith("backbone.") and tensor.ndim == 4)
    missing = [first_conv, *(key for key in weights if key.startswith("backbone.layer1.0.bn1."))]
    safetensors.torch.save_file({k: v for k, v in weights.items() if k not in missing},
                                tmp_path / "model.safetensors", metadata={"format": "pt"})  # fmt: skip
    smaller_season = {**TINY_HEADS, "season": TINY_HEADS["season"][:2]}

    loaded = FashionResNetModel.from_pretrained(tmp_path, heads=smaller_season, ignore_mismatched_sizes=True)

    state = loaded.state_dict()
    for key, tensor in weights.items():
        if key not in missing and not key.startswith("heads.season."):
            assert torch.equal(state[key], tensor), key
    # Not the empty memory from_pretrained allocates: what timm and torch build (Kaiming conv, BN 1 / 0 / 0 / 1).
    conv = state[first_conv]
    kaiming_std = (2 / (conv.shape[0] * conv[0, 0].numel())) ** 0.5  # ResNet's: fan_out, ReLU
    assert torch.isfinite(conv).all() and 0.8 < conv.std() / kaiming_std < 1.25
    norm = loaded.backbone.layer1[0].bn1
    for tensor, value in [(norm.weight, 1), (norm.bias, 0), (norm.running_mean, 0), (norm.running_var, 1)]:
        assert torch.equal(tensor, torch.full_like(tensor, value))
    assert loaded.heads["season"].weight.shape[0] == 2 and loaded.heads["season"].weight.std() < 0.05
    assert torch.isfinite(loaded(torch.randn(2, 3, 80, 60)).logits["season"]).all()


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: checkpointed segments are recomputed in backward in train mode, so every "
    "BatchNorm in them updates its running statistics twice per step (momentum applied twice, "
    "num_batches_tracked += 2); eval-mode results of a model trained with checkpointing differ",
)
def test_gradient_checkpointing_keeps_batchnorm_running_stats(pixels):
    labels = random_labels(4)
    stats = []
    for checkpointing in (False, True):
        model = make_tiny_model().train()
        if checkpointing:
            model.activation_checkpointing_enable()
        model(pixels, labels=labels).loss.backward()
        stats.append({k: v.clone() for k, v in model.state_dict().items() if "running" in k or "batches" in k})
    for key in stats[0]:
        torch.testing.assert_close(stats[1][key], stats[0][key], msg=key)
