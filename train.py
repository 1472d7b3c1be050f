"""Train fashion-resnet50: one timm backbone, four heads, with Accelerate.

    accelerate launch train.py                                   # bundled real sample, CPU, a few minutes
    accelerate launch --mixed_precision bf16 train.py --preset h100 --dataset PREPARED_OR_KAGGLE_DIR
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 train.py ...

The prepared images are decoded once into a uint8 cache (safetensors) by the model's own image
processor; the whole cache lives on the training device, where batches are indexed, augmented and
normalised, so the host waits for the device only when it logs. Every hyperparameter is a field of
`TrainConfig`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import evaluate
import numpy as np
import safetensors.torch
import timm
import torch
import torch.nn.functional as F
import transformers
from accelerate import Accelerator
from accelerate.tracking import get_available_trackers
from accelerate.utils import DataLoaderConfiguration, LoggerType, ProjectConfiguration, set_seed
from datasets import ClassLabel, Dataset, DatasetDict, Image
from huggingface_hub import hf_hub_download
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import HfArgumentParser, get_cosine_schedule_with_warmup, pipeline

import data_scripts
from data_scripts.prepare import SAMPLE_DIR, embedded_image, load_prepared, prepare
from data_scripts.read_raw import looks_like_a_path
from model_card import write_model_card
from modeling import (
    IGNORE_INDEX,
    TASK,
    FashionImageProcessor,
    FashionResNetConfig,
    FashionResNetModel,
    is_timm_architecture,
    load_rgb_image,
    multi_head_loss,
)

HERE = Path(__file__).resolve().parent
DEFAULT_DATASET = "data/sample"  # the bundled sample, as the repository's root names it
HEAD_METRICS = str(HERE / "metrics" / "head_metrics")


PRESETS: dict[str, dict] = {
    # Full prepared data on one H100 (bf16 via `accelerate launch --mixed_precision bf16`), from scratch.
    # The model upscales the 80x60 photos 2x on the GPU (`input_size`): ResNet-50's 32x downsampling leaves
    # a 5x4 feature map instead of 3x2; the photos' own 80x60 did no better (results/h100-80x60/), nor did 3x,
    # 240x180, epoch for epoch, at half the speed (results/h100-240x180/). Without a weight average
    # (`ema_decay`), evaluations jumped by tens of points between epochs at the high learning rate
    # (results/h100/); warming up, the average's decay stays short of its 0.998 cap (0.9965 after 100
    # epochs). At most 100 epochs, fitted to 4 minutes of training from the speed timed on the GPU. Mixup 0.2,
    # drop path 0.05 and no class weights: +1.3 / +0.7 / +0.8 / +0.8 points over the same preset without them
    # (results/h100-next/ against results/h100-ema/, one H100 each): 89.9 / 72.8 / 77.1 / 91.9 %, best of 78
    # epochs at epoch 44 (117 s), the later ones nothing more; macro-F1 lower on baseColour, season and usage
    # (no class weights). Again on another H100 (results/h100-preset/): 89.9 / 73.0 / 76.7 / 92.1 %, best of 100
    # epochs at epoch 53 (127 s). With the benchmarks, 460 to 480 s of the 10 minutes a lent machine gives one
    # command. A checkpoint (weights, their average and AdamW state, about 400 MB) every 500 steps, not every
    # epoch: a run of minutes rarely needs resuming, and each write is wall time of those 10 minutes.
    "h100": {"epochs": 100, "time_budget_s": 240, "batch_size": 512, "lr": 3e-3, "input_size": [160, 120],
             "drop_rate": 0.2, "drop_path_rate": 0.05, "mixup_alpha": 0.2, "class_weight_power": 0.0,
             "ema_decay": 0.998, "eval_batch_size": 2048, "log_every": 25,
             "checkpoint_every": 500, "compile": True},
}


@dataclass
class TrainConfig:
    """Every knob of a run. `--preset NAME` starts from `PRESETS[NAME]`; explicit flags override it. A resumed
    run takes the flags it started with from its checkpoint (`RUN_CONTROL` ones may change)."""

    # The defaults are the README's main job: the bundled real sample on 2 CPU cores in a few minutes.
    dataset: str = field(default=DEFAULT_DATASET,
                         metadata={"help": "prepared folder, Kaggle folder or Hub dataset id"})
    output_dir: str = "outputs/fashion-resnet50"
    cache_dir: str = field(default="cache", metadata={"help": "decoded uint8 images and prepared raw datasets"})
    architecture: str = "resnet50"
    backbone_weights: str = field(
        default="auto",
        metadata={"help": "auto (ImageNet from the Hub when reachable, else random), imagenet, none, or a .safetensors"},
    )
    image_height: int = field(default=80, metadata={"help": "the processor fits photos into this (host, uint8)"})
    image_width: int = 60
    input_size: list[int] | None = field(
        default=None, metadata={"help": "height width the backbone sees, upscaled on the device (default: image size)"}
    )
    epochs: int = field(default=8, metadata={"help": "epochs to train; with --time_budget_s, the most to train"})
    time_budget_s: float = field(
        default=0.0,
        metadata={"help": "seconds of training and evaluation to fit the number of epochs into, timed on a few "
                          "batches before training (0: no budget)"},
    )
    batch_size: int = field(
        default=64, metadata={"help": "global batch over all processes; x gradient_accumulation_steps per update"}
    )
    gradient_accumulation_steps: int = 1
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    class_weight_power: float = field(
        default=0.3, metadata={"help": "loss weight of a class ~ frequency^-power (0: none, 1: inverse frequency)"}
    )
    drop_rate: float = 0.0
    drop_path_rate: float = field(
        default=0.0,
        metadata={"help": "stochastic depth: chance of skipping a residual block, up to this in the last; drawn "
                          "per process, as dropout's masks are, so with either (and on CPUs, where BatchNorm "
                          "normalises each process's share of the batch, in any case) the training depends on the "
                          "number of processes"},
    )
    mixup_alpha: float = field(
        default=0.0,
        metadata={"help": "mixup: each training image blended with its neighbour in the batch, and their losses, "
                          "by a weight ~ Beta(alpha, alpha) drawn per batch (0: none)"},
    )
    ema_decay: float = field(
        default=0.0,
        metadata={"help": "evaluate and save an exponential moving average of the weights (timm's ModelEmaV3, "
                          "its decay warming up as 1 - step^(-2/3) to at most this: 0.9965 after 4,900 steps, "
                          "0.998 after about 11,200); 0: the weights as trained"},
    )
    max_shift: int = field(default=4, metadata={"help": "random translation in pixels (white fill)"})
    seed: int = 0
    eval_batch_size: int = 256
    log_every: int = 20
    checkpoint_every: int = field(default=0, metadata={"help": "steps between checkpoints; 0: at each epoch end"})
    keep_checkpoints: int = 2
    resume: bool = field(
        default=False,
        metadata={"help": "continue the unfinished run in output_dir from its newest checkpoint, with the flags it "
                          "started with (only --cache_dir, --tracker and --keep_checkpoints may change); refused "
                          "where there is no checkpoint"},
    )
    channels_last: bool = True
    compile: bool = False
    tracker: str | None = field(default=None, metadata={"help": "e.g. tensorboard"})
    preset: str | None = field(default=None, metadata={"help": "start from PRESETS[NAME]: " + ", ".join(PRESETS)})


# Checked before anything is loaded: out of range, a flag would fail deep in a run, or quietly do nothing.
FLAG_RANGES: list[tuple[tuple[str, ...], Callable[[float], bool], str]] = [
    (("epochs", "batch_size", "gradient_accumulation_steps", "eval_batch_size", "log_every", "keep_checkpoints",
      "image_height", "image_width"), lambda value: value >= 1, "at least 1"),
    (("time_budget_s", "weight_decay", "class_weight_power", "mixup_alpha", "max_shift", "checkpoint_every"),
     lambda value: value >= 0, "0 or more"),
    (("label_smoothing", "drop_rate", "drop_path_rate", "ema_decay"), lambda value: 0 <= value < 1, "in [0, 1)"),
    (("warmup_fraction",), lambda value: 0 <= value <= 1, "in [0, 1]"),
    (("lr",), lambda value: value > 0, "more than 0"),
    (("seed",), lambda value: 0 <= value < 2**32, "in [0, 2**32)"),  # what set_seed (numpy) takes
]
# Flags that name a file or folder: `--flag=~/x` leaves the ~ to us (the shell expands only a word's start).
PATH_FLAGS = ("dataset", "output_dir", "cache_dir", "backbone_weights")
# What a resumed run may change: where things are written and read from, and how it is watched.
RUN_CONTROL = ("output_dir", "cache_dir", "resume", "tracker", "keep_checkpoints")


def expand_home(config: TrainConfig | argparse.Namespace) -> TrainConfig | argparse.Namespace:
    """`config` (parsed flags) with a leading ~ of each of its `PATH_FLAGS` expanded to the home folder."""
    for name in PATH_FLAGS:
        setattr(config, name, os.path.expanduser(getattr(config, name)))
    return config


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    parser = HfArgumentParser(TrainConfig)
    # The preset sets the defaults that the other flags then override; with --resume, the flags the unfinished
    # run started with (saved in its checkpoints) do, and a flag given again must not change them.
    chosen = expand_home(parser.parse_known_args(argv)[0])
    if chosen.preset is not None:
        if chosen.preset not in PRESETS:
            parser.error(f"unknown preset {chosen.preset!r}; choose from {', '.join(PRESETS)}")
        parser.set_defaults(**PRESETS[chosen.preset])
    checkpoint = latest_checkpoint(Path(chosen.output_dir) / "checkpoints") if chosen.resume else None
    if chosen.resume and checkpoint is None:
        # Not a new run: its flags would be the defaults, not the killed run's, and a finished run's reports would go.
        parser.error(f"--resume: no checkpoint in {Path(chosen.output_dir) / 'checkpoints'} to continue from (a "
                     "finished run has deleted its own); leave out --resume to start a new run there")
    started_with = json.loads((checkpoint / "progress.json").read_text()).get("flags", {}) if checkpoint else {}
    parser.set_defaults(**started_with)
    config = expand_home(parser.parse_args_into_dataclasses(args=argv)[0])
    changed = [f"--{name} {getattr(config, name)} (it started with {value})"
               for name, value in started_with.items() if getattr(config, name) != value]  # fmt: skip
    if changed:
        parser.error(f"a resumed run goes on with the flags it started with: leave out {', '.join(changed)}")
    if config.dataset == DEFAULT_DATASET and not Path(DEFAULT_DATASET).exists():
        config.dataset = str(SAMPLE_DIR)  # the default is the bundled sample from any working folder, not a Hub id
    for names, valid, wanted in FLAG_RANGES:
        for name in names:
            if not valid(getattr(config, name)):
                parser.error(f"--{name} must be {wanted}, got {getattr(config, name):g}")
    if config.input_size is not None and (len(config.input_size) != 2 or min(config.input_size) < 1):
        parser.error(f"--input_size takes a height and a width, got {config.input_size}")
    problem = setting_problem(config)
    if problem:
        parser.error(problem)
    return config


def setting_problem(config: TrainConfig) -> str | None:
    """What is wrong with the flags that name a model, weights or a tracker, found before the data is prepared and
    decoded (minutes on the full data) instead of after; None if nothing is."""
    if not is_timm_architecture(config.architecture):
        return (f"--architecture {config.architecture!r} is not a timm model, or not with that pretrained tag "
                "(timm.list_models() lists them)")
    weights = config.backbone_weights
    if weights not in ("auto", "imagenet", "none"):
        if not weights.endswith(".safetensors"):
            return f"--backbone_weights must be auto, imagenet, none or a .safetensors file, got {weights!r}"
        if not Path(weights).is_file():
            return f"--backbone_weights {weights}: no such file"
    if config.tracker is not None:
        if config.tracker not in LoggerType.list():
            return f"--tracker must be one of accelerate's: {', '.join(LoggerType.list())}; got {config.tracker!r}"
        # Accelerator would only warn, once started, and log nothing.
        if config.tracker != "all" and LoggerType(config.tracker) not in get_available_trackers():
            return f"--tracker {config.tracker}: its package is not installed (pip install {config.tracker})"
    return None


# ---------------------------------------------------------------------------------------------- data


def prepared_in_cache(source: str, cache_dir: Path) -> Path:
    """The folder that raw data from `source` is prepared into."""
    return cache_dir / "prepared" / re.sub(r"[^\w.-]+", "--", source.strip("/"))


def load_splits(source: str, cache_dir: Path, prepare_here: bool = True) -> DatasetDict:
    """A prepared dataset (folder or Hub id) as it is; raw data (a Kaggle folder, a Parquet file or a Hub
    dataset in the raw schema) is cleaned and split by `data_scripts` first, into the cache (by the
    process with `prepare_here`; the others read what it wrote)."""
    here = Path(source).expanduser().exists()
    if looks_like_a_path(source) and not here:  # not a Hub id
        raise SystemExit(f"--dataset {source}: no such file or folder")
    if not (Path(source) / "styles.csv").exists() and not source.endswith(".parquet"):
        try:
            splits = load_prepared(source)
        except (ConnectionError, FileNotFoundError) as error:
            if here:
                raise
            # `data/fashion` may be a folder mistyped or a Hub id: the traceback named only the Hub.
            raise SystemExit(f"--dataset {source}: no such file or folder, nor a Hub dataset that could be loaded "
                             f"({error})") from error
        features = splits["train"].features
        if all(isinstance(features.get(h), ClassLabel) for h in data_scripts.HEADS):  # prepared, not raw
            if "validation" not in splits:
                # Cleaned again as raw data, its splits would be merged and split anew, silently.
                raise SystemExit(f"--dataset {source} is a prepared dataset without a validation split "
                                 f"(it has {', '.join(splits)}): name its held-out split 'validation'")
            return splits
    prepared = prepared_in_cache(source, cache_dir)
    if prepare_here:
        try:
            prepare(source, output_dir=prepared)
        except data_scripts.RawDataError as error:  # the data's fault, named: no images, not UTF-8, nothing kept
            raise SystemExit(f"--dataset {source}: {error}") from error
    return load_prepared(prepared)  # from the Parquet files: a stable fingerprint for the cache


def encode_split(split: Dataset, processor: FashionImageProcessor, cache_dir: Path) -> dict[str, torch.Tensor]:
    """Decode a split once into `pixels` uint8 (N, 3, H, W) and `labels` int64 (N, heads); cached on disk."""
    size = processor.size
    path = cache_dir / f"{split._fingerprint}-{size['height']}x{size['width']}.safetensors"
    if path.exists():
        return safetensors.torch.load_file(path)
    images = split.cast_column("image", Image(decode=False))["image"]
    pixels = np.empty((len(images), size["height"], size["width"], 3), dtype=np.uint8)
    for i, image in enumerate(tqdm(images, desc=f"decoding {len(images)} images", unit="img")):
        try:
            pixels[i] = processor.fit(load_rgb_image(embedded_image(image)))
        except ValueError as error:  # a path only; or an image that decodes no more (prepare decoded each one)
            raise SystemExit(f"row {i} of the {split.split} split: {error}") from error
    labels = torch.tensor([split[head] for head in data_scripts.HEADS], dtype=torch.int64).T
    labels[labels < 0] = IGNORE_INDEX  # ClassLabel's -1 is "missing": the loss skips it
    encoded = {"pixels": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), "labels": labels.contiguous()}
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(encoded, f"{path}.tmp")
    os.replace(f"{path}.tmp", path)  # atomic: a concurrent reader never sees half a file
    return encoded


def batches_per_epoch(num_examples: int, batch_size: int, accumulation: int) -> int:
    """Whole global batches only, and a whole number of optimizer steps of `accumulation` batches."""
    batches = num_examples // batch_size // accumulation * accumulation
    if batches == 0:
        raise SystemExit(f"{num_examples} training images do not fill one update of "
                         f"{batch_size} x {accumulation} images: lower --batch_size")
    return batches


def epoch_order(num_examples: int, batches: int, batch_size: int, seed: int, epoch: int,
                device: torch.device) -> torch.Tensor:
    """This epoch's shuffled global batches of example indices, (batches, batch_size), on the device.

    Seeded by (seed, epoch), so every process and a resumed run see the same batches.
    """
    order = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
    return order[: batches * batch_size].view(batches, batch_size).to(device)  # one copy per epoch


def draw_augmentations(batch_size: int, max_shift: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example horizontal flips (bool) and (dy, dx) shifts in [0, 2 * max_shift] for a global batch.

    Drawn for the global batch on every process, so the training does not depend on how many share it.
    """
    device = generator.device
    flips = torch.rand(batch_size, device=device, generator=generator) < 0.5
    shifts = torch.randint(0, 2 * max_shift + 1, (batch_size, 2), device=device, generator=generator)
    return flips, shifts


def augment(pixels: torch.Tensor, flips: torch.Tensor, shifts: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Flip and translate a uint8 batch (white fill) on its device. Nothing that changes colour: baseColour
    is a label."""
    n, _, height, width = pixels.shape
    device = pixels.device
    pixels = torch.where(flips.view(-1, 1, 1, 1), pixels.flip(-1), pixels)
    if max_shift == 0:
        return pixels
    padded = F.pad(pixels, (max_shift,) * 4, value=255)
    rows = (shifts[:, :1] + torch.arange(height, device=device)).view(n, 1, height, 1)
    cols = (shifts[:, 1:] + torch.arange(width, device=device)).view(n, 1, 1, width)
    return padded[torch.arange(n, device=device).view(n, 1, 1, 1), torch.arange(3, device=device).view(1, 3, 1, 1),
                  rows, cols]


def swap_pairs(batch: torch.Tensor) -> torch.Tensor:
    """Examples 0 and 1, 2 and 3, ... swapped: mixup partners that stay together in any even split of the batch
    over processes, so that the training does not depend on how many share it."""
    return batch.unflatten(0, (-1, 2)).flip(1).flatten(0, 1)


def mixup_weight(alpha: float, seed: int) -> float:
    """The weight of each image against its partner in one batch, ~ Beta(alpha, alpha); 1 (no mixing) if alpha
    is 0. Seeded per batch: every process and a resumed run draw the same."""
    return float(np.random.default_rng(seed).beta(alpha, alpha)) if alpha > 0 else 1.0


def class_weights(labels: torch.Tensor, heads: dict[str, list[str]], power: float) -> dict[str, torch.Tensor]:
    """Per head, weights ~ count^-power, scaled so the average weight of a training example is 1."""
    weights = {}
    for column, (name, names) in enumerate(heads.items()):
        known = labels[:, column][labels[:, column] != IGNORE_INDEX]
        counts = torch.bincount(known, minlength=len(names)).float()
        weight = (counts + 1).pow(-power)
        weights[name] = weight / ((weight * counts).sum() / counts.sum())
    return weights


# --------------------------------------------------------------------------------------------- model


def build_model(config: TrainConfig, heads: dict[str, list[str]]) -> FashionResNetModel:
    """The model a run trains, randomly initialised: the dataset's heads and the run's architecture settings."""
    return FashionResNetModel(
        FashionResNetConfig(architecture=config.architecture, heads=heads, drop_rate=config.drop_rate,
                            drop_path_rate=config.drop_path_rate, input_size=config.input_size)
    )


def load_backbone_file(model: FashionResNetModel, path: str) -> None:
    """Load a timm state dict from a safetensors file (never a pickle) into the backbone."""
    # A timm checkpoint carries its own classifier; the heads replace it.
    state = {k: v for k, v in safetensors.torch.load_file(path).items() if not k.startswith(("fc.", "head."))}
    expected = model.backbone.state_dict()
    problems = sorted(expected.keys() ^ state.keys()) + sorted(
        k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape
    )
    if problems:
        raise SystemExit(f"{path} does not match {model.config.architecture}: "
                         f"{len(problems)} missing, unexpected or mis-shaped tensors, e.g. {problems[:5]}")
    model.backbone.load_state_dict(state)


def load_backbone_weights(model: FashionResNetModel, source: str) -> str:
    """Initialise the backbone from `source` (see `TrainConfig.backbone_weights`); returns what was used."""
    if source == "none":
        return "random"
    if source.endswith(".safetensors"):
        load_backbone_file(model, source)
        return f"file:{source}"
    architecture = model.config.architecture
    pretrained_cfg = timm.models.get_pretrained_cfg(architecture)
    repo_id = pretrained_cfg.hf_hub_id if pretrained_cfg else None
    try:
        if not repo_id:
            raise FileNotFoundError(f"timm lists no Hub weights for {architecture}")
        path = hf_hub_download(repo_id, "model.safetensors")  # safetensors only: nothing is unpickled
    except OSError as error:  # offline, unreachable, no such file: huggingface_hub's errors are OSErrors
        if source == "auto":
            print(f"ImageNet weights for {architecture} are not reachable ({type(error).__name__}); "
                  "training from random initialisation.", file=sys.stderr)
            return "random"
        raise SystemExit(
            f"cannot download ImageNet weights for {architecture} from the Hugging Face Hub "
            f"({type(error).__name__}: {error}).\nGo online (unset HF_HUB_OFFLINE), pass a local file with "
            "--backbone_weights PATH.safetensors, or train from scratch with --backbone_weights none."
        ) from None
    load_backbone_file(model, path)
    return f"hub:{repo_id}"


# ---------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_heads(model, accelerator: Accelerator, model_input: Callable[[torch.Tensor], torch.Tensor],
                   split: dict, loader: DataLoader, heads: dict[str, list[str]]) -> dict:
    """Top-1 accuracy, macro-F1, per-class accuracy and confusion matrix per head, each image counted once."""
    model.eval()
    predictions, references = [], []
    for index in loader:
        with accelerator.autocast():
            logits = model(model_input(split["pixels"][index])).logits
        batch_predictions = torch.stack([head_logits.argmax(-1) for head_logits in logits.values()], dim=1)
        batch_predictions, batch_labels = accelerator.gather_for_metrics((batch_predictions, split["labels"][index]))
        predictions.append(batch_predictions.cpu())
        references.append(batch_labels.cpu())
    predictions, references = torch.cat(predictions), torch.cat(references)
    metric = evaluate.load(HEAD_METRICS)
    results = {}
    for column, (name, names) in enumerate(heads.items()):
        known = references[:, column] != IGNORE_INDEX
        results[name] = metric.compute(predictions=predictions[known, column], references=references[known, column],
                                       labels=names)
    return results


# ----------------------------------------------------------------------------------------- checkpoints


AVERAGE_FILE = "weight_average.safetensors"


def average_file(process_index: int) -> str:
    """The checkpoint's file of one process's weight average: the main process's is `AVERAGE_FILE`."""
    return AVERAGE_FILE if process_index == 0 else f"weight_average-{process_index}.safetensors"


def save_checkpoint(accelerator: Accelerator, checkpoints: Path, step: int, progress: dict, keep: int,
                    average: torch.nn.Module | None = None, average_per_process: bool = False) -> None:
    """Write `checkpoint-{step}` atomically: a kill at any moment leaves the previous one usable.

    The weight average, if any, goes in as safetensors (`average_file`): registered with accelerate, it would be
    a pickle that accelerate loads with `weights_only=False`. With `average_per_process`, every process writes its
    own: without SyncBatchNorm each has its own BatchNorm statistics until the evaluation averages them."""
    final = checkpoints / f"checkpoint-{step:08d}"
    partial = checkpoints / f".partial-{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if average is not None and (accelerator.is_main_process or average_per_process):
        safetensors.torch.save_model(average, str(partial / average_file(accelerator.process_index)))
    accelerator.wait_for_everyone()  # every process's files are in `partial` before it becomes final
    if accelerator.is_main_process:
        (partial / "progress.json").write_text(json.dumps(progress))
        os.replace(partial, final)
        for old in sorted(checkpoints.glob("checkpoint-*"))[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def latest_checkpoint(checkpoints: Path) -> Path | None:
    complete = sorted(checkpoints.glob("checkpoint-*"))
    return complete[-1] if complete else None


# -------------------------------------------------------------------------------------------- training


class LossWindows:
    """Sums the training loss on the device and syncs with the host only when a window is flushed.

    The flushed windows [mean loss, batches, seconds] live in the checkpointed progress, so an epoch's mean
    loss is the same whether or not the run was interrupted. Seconds count training steps only.
    """

    def __init__(self, accelerator: Accelerator, flushed: list[list[float]], images_per_batch: float) -> None:
        self.accelerator, self.flushed, self.images_per_batch = accelerator, flushed, images_per_batch
        self.total, self.batches = torch.zeros((), device=accelerator.device), 0
        self.restart_clock()

    def restart_clock(self) -> None:
        """Start timing anew, e.g. after a checkpoint save that is not training time."""
        self.started = time.perf_counter()

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss.detach()
        self.batches += 1

    def flush(self) -> tuple[float, float]:
        """Close the window: its mean loss over all processes, and its images/s."""
        if self.batches == 0:
            return math.nan, 0.0
        mean = self.accelerator.reduce(self.total, "mean").item() / self.batches  # the step loop's only sync
        window = [mean, self.batches, time.perf_counter() - self.started]
        self.flushed.append(window)
        self.total.zero_()
        self.batches = 0
        self.restart_clock()
        return mean, window[1] * self.images_per_batch / window[2]

    def epoch_summary(self) -> tuple[float, float]:
        """The epoch's mean training loss and training images/s."""
        self.flush()
        batches = sum(n for _, n, _ in self.flushed)
        seconds = sum(t for _, _, t in self.flushed)
        mean = sum(loss * n for loss, n, _ in self.flushed) / max(batches, 1)
        return mean, batches * self.images_per_batch / max(seconds, 1e-9)


def synchronized_seconds(work: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of `work`, including what it queued on the device (GPU calls return before they are done)."""
    if device.type != "cpu":
        torch.accelerator.synchronize(device)
    started = time.perf_counter()
    work()
    if device.type != "cpu":
        torch.accelerator.synchronize(device)
    return time.perf_counter() - started


def warm_up(model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
            train_step: Callable[[], None], timed_batches: int = 0) -> tuple[float, float | None]:
    """One training step, so that torch.compile builds its graphs (and the device its kernels), then
    `timed_batches` more to time, with no effect on training: weights, BatchNorm statistics, gradients, the
    optimizer's state (and its gradient scaler's, with fp16) and the random state (dropout) are put back as they
    were, so a run, resumed or not, trains as it would without it.

    Returns the seconds of the first step and the mean seconds of a timed one (None if none was timed).
    """
    saved = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    scaler = getattr(optimizer, "scaler", None)  # accelerate's, under fp16 mixed precision
    saved_scaler = scaler.state_dict() if scaler is not None else None
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device], device_type=device.type):
        first = synchronized_seconds(train_step, device)
        timed = synchronized_seconds(lambda: [train_step() for _ in range(timed_batches)], device)
    optimizer.zero_grad(set_to_none=True)
    optimizer.load_state_dict(saved_optimizer)
    if scaler is not None:
        scaler.load_state_dict(saved_scaler)
    model.load_state_dict(saved)
    return first, timed / timed_batches if timed_batches else None


def epoch_seconds(batch_seconds: float, train_batches: int, valid_batches: float) -> float:
    """About how long an epoch of training and evaluation takes.

    `batch_seconds` is a whole step (augmentation, forward, backward, optimizer; `warm_up`; with gradient
    accumulation, an optimizer step per batch, a little more than the loop takes). An evaluation
    batch counts as half a training batch: a forward pass is about a third of forward and backward, but
    evaluation runs uncompiled. Left out: the weight average's update and the Python around each step, which
    weigh more where steps are short (results/README.md).
    """
    return batch_seconds * (train_batches + valid_batches / 2)


def epochs_within(budget_s: float, epoch_s: float, max_epochs: int) -> int:
    """How many epochs of `epoch_s` seconds fit in `budget_s`: at least 1, at most `max_epochs`."""
    return max(1, min(max_epochs, int(budget_s // epoch_s)))


class TrainingClock:
    """Seconds spent training and evaluating, carried over a resume; writing checkpoints and the best model
    to disk is left out (`paused`), as is compilation, which happens before the clock starts."""

    def __init__(self, already: float = 0.0) -> None:
        self.origin = time.perf_counter() - already

    def elapsed(self) -> float:
        return time.perf_counter() - self.origin

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        stopped = time.perf_counter()
        try:
            yield
        finally:
            self.origin += time.perf_counter() - stopped


def hardware(device: torch.device) -> str:
    """The device in words, for training.json, the card and the benchmarks."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def idle_cores_hint(device: torch.device, num_processes: int, threads: int, cores: int) -> str | None:
    """Why a lone CPU process trains on fewer threads than it has cores, and the fix; None if it uses them all.

    `accelerate launch` with no configuration, on a machine with no GPU, sets OMP_NUM_THREADS=1: on 2 cores,
    ResNet-50 then trains at 29 instead of 54 images/s (README.md).
    """
    if device.type != "cpu" or num_processes != 1 or threads >= cores:
        return None
    return (f"training on {threads} of {cores} CPU cores (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}: "
            "set so before the launch, or by `accelerate launch`, which does so without a configuration on a machine "
            "with no GPU); to use them all, run `accelerate config default` once or pass "
            "--num_cpu_threads_per_process, with OMP_NUM_THREADS unset")


def mixed_precision(accelerator: Accelerator) -> str:
    """The precision the run trains in: accelerate takes fp16 on a CPU and trains in fp32 there."""
    return accelerator.mixed_precision if accelerator.native_amp else "no"


def rerun_command(accelerator: Accelerator) -> str:
    """The command that trains this run again, however it was started: the launcher's settings are the
    accelerator's (a CPU run stays on the CPU, with its threads), not what argv shows."""
    launcher = ["accelerate", "launch", "--num_processes", str(accelerator.num_processes),
                "--mixed_precision", mixed_precision(accelerator)]
    if accelerator.device.type == "cpu":
        threads = ["--num_cpu_threads_per_process", str(torch.get_num_threads())]
        if accelerator.num_processes > 1:  # `--cpu` starts one process; several are `--multi_gpu` kept on the CPU
            launcher = ["ACCELERATE_USE_CPU=true", *launcher, "--multi_gpu", *threads]
        else:
            launcher += ["--cpu", *threads]
    return shlex.join([*launcher, *sys.argv])


def average_over_processes(buffers: Iterable[torch.Tensor], accelerator: Accelerator) -> None:
    """Replace each floating-point buffer (BatchNorm's running statistics) by its mean over the processes.

    Without SyncBatchNorm (on CPUs), each process's statistics are those of its own share of the batches, so
    each process evaluated another model than the one the main process saves."""
    for buffer in buffers:
        if buffer.is_floating_point():
            buffer.copy_(accelerator.reduce(buffer, reduction="mean"))


def library_versions() -> dict[str, str]:
    return {lib.__name__: lib.__version__ for lib in (torch, timm, transformers)}


def main(config: TrainConfig) -> Path:
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        # Batch sizes are global: the same command trains the same way on 1 or N processes.
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        log_with=config.tracker,
        project_config=ProjectConfiguration(config.output_dir, logging_dir=str(Path(config.output_dir) / "runs")),
    )
    if config.batch_size % accelerator.num_processes or config.eval_batch_size % accelerator.num_processes:
        raise SystemExit(f"--batch_size {config.batch_size} and --eval_batch_size {config.eval_batch_size} are global: "
                         f"they must divide evenly over the {accelerator.num_processes} processes")
    if config.mixup_alpha and (config.batch_size // accelerator.num_processes) % 2:
        raise SystemExit(f"--mixup_alpha pairs the images of a batch: --batch_size {config.batch_size} must give each "
                         f"of the {accelerator.num_processes} processes an even number")
    if mixed_precision(accelerator) != accelerator.mixed_precision:
        accelerator.print(f"mixed precision {accelerator.mixed_precision} does not run on {accelerator.device.type}: "
                          "training in fp32")
    hint = idle_cores_hint(accelerator.device, accelerator.num_processes, torch.get_num_threads(),
                           len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    if hint:
        accelerator.print(hint)
    set_seed(config.seed)
    output_dir, cache_dir = Path(config.output_dir), Path(config.cache_dir)
    checkpoints = output_dir / "checkpoints"
    if not config.resume and latest_checkpoint(checkpoints) is not None:
        # Training on would mix this run's checkpoints with the earlier run's, and pruning would drop some of either.
        raise SystemExit(f"{checkpoints} holds the checkpoints of an unfinished run: pass --resume to continue it, "
                         "or delete that folder to start again")

    with accelerator.main_process_first():
        splits = load_splits(config.dataset, cache_dir, prepare_here=accelerator.is_main_process)
        heads = {head: splits["train"].features[head].names for head in data_scripts.HEADS}
        processor = FashionImageProcessor.for_backbone(
            config.architecture, size={"height": config.image_height, "width": config.image_width}
        )
        train, valid = (encode_split(splits[name], processor, cache_dir / "decoded") for name in ("train", "validation"))
    unlabelled = [head for column, head in enumerate(heads) if (valid["labels"][:, column] == IGNORE_INDEX).all()]
    if unlabelled:
        raise SystemExit(f"no validation image of {config.dataset} has a label for {', '.join(unlabelled)}: "
                         "there is nothing to measure that head on")
    # The whole (uint8) dataset lives on the device: batches are gathered there, never copied per step.
    train, valid = ({k: v.to(accelerator.device) for k, v in s.items()} for s in (train, valid))

    model = build_model(config, heads)
    backbone_init = load_backbone_weights(model, config.backbone_weights)
    # BN statistics over the global batch; elsewhere, averaged over the processes before each evaluation.
    statistics_per_process = accelerator.num_processes > 1 and accelerator.device.type != "cuda"
    if accelerator.num_processes > 1 and accelerator.device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)

    # Training batches are index rows of a per-epoch permutation on the device (`epoch_order`): nothing is
    # copied to the device per step. Evaluation goes through a prepared loader of indices, so that
    # `gather_for_metrics` counts each validation image once however many processes share it.
    valid_loader = DataLoader(range(len(valid["labels"])), batch_size=config.eval_batch_size)
    epoch_batches = batches_per_epoch(len(train["labels"]), config.batch_size, config.gradient_accumulation_steps)
    steps_per_epoch = epoch_batches // config.gradient_accumulation_steps
    # No weight decay on BatchNorm and bias parameters (1-d): it only fights their scale.
    parameters = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in parameters if p.ndim > 1]},
         {"params": [p for p in parameters if p.ndim <= 1], "weight_decay": 0.0}],
        lr=config.lr, weight_decay=config.weight_decay,
    )
    model, optimizer, valid_loader = accelerator.prepare(model, optimizer, valid_loader)
    forward = torch.compile(model) if config.compile else model
    weights = class_weights(train["labels"], heads, config.class_weight_power)

    checkpoint = latest_checkpoint(checkpoints) if config.resume else None  # parse_config saw that there is one
    progress = json.loads((checkpoint / "progress.json").read_text()) if checkpoint else {
        "epoch": 0, "step": 0, "epoch_losses": [], "train_seconds": 0.0, "best_mean_accuracy": -1.0, "best": None,
        "history": []}
    # What a resume needs to go on as the run started (checkpoints from before this was saved lack it).
    progress.setdefault("flags", {k: v for k, v in asdict(config).items() if k not in RUN_CONTROL})
    progress.setdefault("command", rerun_command(accelerator))
    # The launcher's settings are no flags, but the training depends on them as much (on CPUs, BatchNorm
    # normalises each process's share of the batch): a resumed run must go on as it started.
    launched = {"num_processes": accelerator.num_processes, "mixed_precision": mixed_precision(accelerator)}
    started = {name: progress.setdefault(name, value) for name, value in launched.items()}
    if started != launched:
        raise SystemExit(f"{checkpoint} was trained with {started}, not {launched}: resume it as it started, "
                         f"with the launcher's settings of `{progress['command']}`")
    if checkpoint is None and (output_dir / "training.json").is_file() and accelerator.is_main_process:
        # A finished run's folder: its reports would describe this run's weights until it writes its own, and
        # for good if it stopped before (or had no dataset summary to copy).
        accelerator.print(f"{output_dir} holds a finished run: replacing it")
        for name in REPORTS:
            if (output_dir / name).is_dir():
                shutil.rmtree(output_dir / name)
            (output_dir / name).unlink(missing_ok=True)

    def model_input(pixels: torch.Tensor) -> torch.Tensor:
        # Reorder while still uint8 (a quarter of the bytes); the normalisation keeps the memory format.
        if config.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        return processor.normalize(pixels)

    def training_loss(pixels: torch.Tensor, labels: torch.Tensor, mix: float = 1.0) -> torch.Tensor:
        """`mix` < 1: mixup, each image blended with its partner (`swap_pairs`) and the loss likewise."""
        with accelerator.autocast():
            inputs = model_input(pixels)
            if mix < 1.0:
                inputs = inputs.lerp(swap_pairs(inputs), 1.0 - mix)
            logits = forward(inputs).logits
        loss = multi_head_loss(logits, labels, config.label_smoothing, weights)
        if mix < 1.0:
            partners = multi_head_loss(logits, swap_pairs(labels), config.label_smoothing, weights)
            loss = mix * loss + (1.0 - mix) * partners
        return loss

    # Seeded per batch before each use: its state in between does not matter.
    generator = torch.Generator(accelerator.device)
    # A run fitted to a time budget keeps its number of epochs when resumed: the schedule depends on it.
    fit_to_budget = config.time_budget_s > 0 and "time_budget" not in progress
    if config.compile or fit_to_budget:
        # Compile before the clock starts, as airbench does, on one batch of real rows; then time a few.
        model.train()
        rows = torch.arange(config.batch_size // accelerator.num_processes, device=accelerator.device)

        def train_step() -> None:
            """A training step on the first rows: what the loop below does per batch, bar the bookkeeping."""
            flips, shifts = draw_augmentations(len(rows), config.max_shift, generator)
            pixels = augment(train["pixels"][rows], flips, shifts, config.max_shift)
            accelerator.backward(training_loss(pixels, train["labels"][rows], mixup_weight(config.mixup_alpha, 0)))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        seconds, batch_seconds = warm_up(model, optimizer, accelerator.device, train_step,
                                         timed_batches=5 if fit_to_budget else 0)
        if config.compile:
            progress["compile_seconds"] = round(progress.get("compile_seconds", 0.0) + seconds, 2)  # over resumes
            accelerator.print(f"compiled in {seconds:.0f} s (not counted as training time)")
        if fit_to_budget:
            # The slowest process sets the pace, and every process must train the same number of epochs.
            batch_seconds = accelerator.reduce(torch.tensor(batch_seconds, device=accelerator.device), "max").item()
            epoch_s = epoch_seconds(batch_seconds, epoch_batches, len(valid["labels"]) / config.batch_size)
            fitted = epochs_within(config.time_budget_s, epoch_s, config.epochs)
            progress["time_budget"] = {"seconds": config.time_budget_s, "seconds_per_batch": round(batch_seconds, 5),
                                       "epochs": fitted}
            overrun = (f"; one epoch takes about {epoch_s:.0f} s, past the budget, and is trained all the same"
                       if epoch_s > config.time_budget_s else "")  # fmt: skip
            accelerator.print(f"time budget {config.time_budget_s:g} s at {batch_seconds:.3f} s per batch: "
                              f"{fitted} epochs (at most {config.epochs}){overrun}")
    # The average of the weights over the last steps: what is evaluated and saved. Evaluations at a high
    # learning rate jump by tens of points from one epoch to the next without it (results/h100/).
    trained, ema = accelerator.unwrap_model(model), None
    if config.ema_decay:
        ema = ModelEmaV3(trained, decay=config.ema_decay, use_warmup=True)
    average = ema.module if ema is not None else None
    evaluated = average if average is not None else trained
    epochs = progress["time_budget"]["epochs"] if "time_budget" in progress else config.epochs
    total_steps = steps_per_epoch * epochs
    scheduler = accelerator.prepare(
        get_cosine_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    )
    if checkpoint:
        accelerator.load_state(str(checkpoint))
        if average is not None:
            own = accelerator.process_index if statistics_per_process else 0
            safetensors.torch.load_model(average, str(checkpoint / average_file(own)))
        accelerator.print(f"resumed from {checkpoint} (epoch {progress['epoch']} of {epochs}, step {progress['step']})")
    if config.tracker:
        # Trackers (TensorBoard) take scalars only: input_size, a list, goes as its text.
        hyperparameters = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                           for k, v in asdict(config).items() if v is not None}
        accelerator.init_trackers("fashion-resnet50", config=hyperparameters)

    bar = tqdm(total=total_steps, initial=progress["step"], desc="training", unit="step",
               disable=not accelerator.is_local_main_process)
    clock = TrainingClock(progress["train_seconds"])
    while progress["epoch"] < epochs:
        epoch = progress["epoch"]
        model.train()
        batches = epoch_order(len(train["labels"]), epoch_batches, config.batch_size, config.seed, epoch,
                              accelerator.device)
        skipped = (progress["step"] - epoch * steps_per_epoch) * config.gradient_accumulation_steps
        losses = LossWindows(accelerator, progress["epoch_losses"], images_per_batch=config.batch_size)
        for draw in range(skipped, epoch_batches):
            index = batches[draw].chunk(accelerator.num_processes)[accelerator.process_index]
            with accelerator.accumulate(model):
                # Seeded by (seed, epoch, batch): a resumed run draws exactly the same augmentations.
                batch_seed = (config.seed * 1000 + epoch) * epoch_batches + draw
                generator.manual_seed(batch_seed)
                flips, shifts = (drawn.chunk(accelerator.num_processes)[accelerator.process_index]
                                 for drawn in draw_augmentations(config.batch_size, config.max_shift, generator))
                loss = training_loss(augment(train["pixels"][index], flips, shifts, config.max_shift),
                                     train["labels"][index], mixup_weight(config.mixup_alpha, batch_seed))
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            losses.add(loss)
            if not accelerator.sync_gradients:
                continue
            progress["step"] += 1
            if ema is not None:
                ema.update(trained, step=progress["step"])
            bar.update(1)
            if progress["step"] % config.log_every == 0:
                mean_loss, rate = losses.flush()
                bar.set_postfix(loss=f"{mean_loss:.3f}", img_s=f"{rate:.0f}")
                accelerator.log({"train/loss": mean_loss, "train/images_per_s": rate}, step=progress["step"])
            if config.checkpoint_every and progress["step"] % config.checkpoint_every == 0:
                losses.flush()  # the epoch's loss so far must be in the checkpoint
                progress["train_seconds"] = clock.elapsed()
                with clock.paused():
                    save_checkpoint(accelerator, checkpoints, progress["step"], progress, config.keep_checkpoints,
                                    average, statistics_per_process)
                losses.restart_clock()

        train_loss, train_rate = losses.epoch_summary()
        progress["epoch"] = epoch + 1
        if statistics_per_process:
            average_over_processes(evaluated.buffers(), accelerator)
        results = evaluate_heads(evaluated, accelerator, model_input, valid, valid_loader, heads)
        progress["train_seconds"] = clock.elapsed()
        summary = {
            "epoch": epoch + 1,
            "elapsed_s": round(progress["train_seconds"], 2),
            "train_loss": train_loss,
            "train_images_per_s": round(train_rate, 1),
            "mean_accuracy": float(np.mean([r["accuracy"] for r in results.values()])),
            "accuracy": {name: r["accuracy"] for name, r in results.items()},
            "macro_f1": {name: r["macro_f1"] for name, r in results.items()},
        }
        if ema is not None:  # warming up (timm's 1 - step^(-2/3)), it reaches ema_decay only after many steps
            summary["ema_decay"] = round(ema.get_decay(progress["step"]), 5)
        progress["history"].append(summary)
        progress["epoch_losses"] = []
        accelerator.log({f"val/{k}_{h}": v for k in ("accuracy", "macro_f1") for h, v in summary[k].items()},
                        step=progress["step"])
        accelerator.print(f"epoch {epoch + 1}/{epochs} " + " ".join(
            f"{h}={summary['accuracy'][h]:.3f}" for h in heads) + f" mean={summary['mean_accuracy']:.3f}")
        if progress["best"] is None or summary["mean_accuracy"] > progress["best_mean_accuracy"]:
            progress["best_mean_accuracy"], progress["best"] = summary["mean_accuracy"], {"epoch": epoch + 1, "heads": results}
            if accelerator.is_main_process:
                with clock.paused():
                    pipe = pipeline(TASK, model=evaluated, image_processor=processor)
                    pipe.save_pretrained(output_dir)
        if not config.checkpoint_every:
            with clock.paused():
                save_checkpoint(accelerator, checkpoints, progress["step"], progress, config.keep_checkpoints,
                                average, statistics_per_process)
    bar.close()
    accelerator.end_training()

    if accelerator.is_main_process:
        write_reports(output_dir, config, progress, valid, backbone_init, accelerator, len(train["labels"]))
        # Resume state (optimizer, RNG: pickled by accelerate) is only for an unfinished run; the finished
        # folder is exactly what push_to_hub.py uploads. Removed last: a run stopped while writing its
        # reports can still be resumed.
        shutil.rmtree(checkpoints, ignore_errors=True)
    return output_dir


REPORTS = ["metrics.json", "training.json", "dataset_summary.json", "README.md", "images"]  # by write_reports


def write_reports(output_dir: Path, config: TrainConfig, progress: dict, valid: dict, backbone_init: str,
                  accelerator: Accelerator, train_examples: int) -> None:
    """metrics.json, training.json, the dataset summary and the model card (docs/output_folder.md)."""
    best = progress["best"]
    metrics = {
        "split": "validation",
        "num_examples": len(valid["labels"]),
        "best_epoch": best["epoch"],
        "mean_accuracy": progress["best_mean_accuracy"],
        "heads": best["heads"],
        "history": progress["history"],
    }
    training = {
        "hyperparameters": {k: v for k, v in asdict(config).items() if k not in ("output_dir", "cache_dir", "resume")},
        "backbone_init": backbone_init,
        "dataset": config.dataset,
        "train_examples": train_examples,
        "validation_examples": len(valid["labels"]),
        "train_seconds": round(progress["train_seconds"], 2),
        "compile_seconds": progress.get("compile_seconds"),
        "time_budget": progress.get("time_budget"),
        "hardware": hardware(accelerator.device),
        "num_processes": accelerator.num_processes,
        "mixed_precision": mixed_precision(accelerator),
        "library_versions": library_versions(),
        "torch_threads": torch.get_num_threads(),
        "command": progress["command"],  # the command the run started with, not that of a resume
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (output_dir / "training.json").write_text(json.dumps(training, indent=2))
    # The prepared data's summary: of the folder given, or of the cache's preparation of raw data.
    for prepared in (Path(config.dataset), prepared_in_cache(config.dataset, Path(config.cache_dir))):
        if (prepared / "cleaning_summary.json").exists():
            shutil.copyfile(prepared / "cleaning_summary.json", output_dir / "dataset_summary.json")
            break
    write_model_card(output_dir)
    heads = metrics["heads"]
    print("\n".join(f"{name:>12}: accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}" for name, r in heads.items()))
    print(f"model folder: {output_dir.resolve()}")


if __name__ == "__main__":
    main(parse_config())
