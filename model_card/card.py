"""Writes the model card (README.md with `model-index`) and its figures into a training output folder."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import shutil
import traceback
from typing import Any
from pathlib import Path, PureWindowsPath

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from packaging.requirements import Requirement
from transformers.dynamic_module_utils import get_imports

from data_scripts.card import markdown_text, ratio_text

from .plots import plot_accuracy_curve, plot_class_distribution, plot_confusion_matrix
from .results import HeadSummary, TrainingResults, class_counts, load_results, summarise_head

__all__ = ["EXAMPLE_IMAGE", "TEMPLATE", "write_model_card"]

TEMPLATE = Path(__file__).with_name("template.md")
PACKAGE = "fashion-resnet50"  # the distribution whose pyproject.toml declares the version ranges
EXAMPLE_IMAGE = Path(__file__).with_name("example.jpg")  # a real product photo from the dataset
IMAGES_DIR = "images"
TASK_TYPE = "image-classification"
# One task name for every head: huggingface_hub groups `model-index` results by task type and dataset, not by task
# name, so per-head names collapsed into the first head's. `metric_name` and `metric_config` name the head.
TASK_NAME = "fashion attribute classification"


# /a/b, ~/a, C:\a or C:/a, also after "--flag=" or "file:" (training.json's `backbone_init`); not a/b, ../a or
# the path of a URL. In running text a path ends at a space or `=`; but a value that is one path from its start
# (a flag's, `file:` and a backbone file; not a command that starts with a program's path and has flags) runs to
# its end, and so does a word of a command that shlex.join (train.py's recorded command) quoted for the space in
# it: `C:\Users\Alice Smith\w.safetensors`.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~])~?/[^\s=]*|(?<=\bfile:)/[^\s=]*|\b[A-Za-z]:[\\/][^\s=]*")
PATH_START = r"(?:~?/|[A-Za-z]:[\\/])"
WHOLE_PATH = re.compile(rf"(file:)?((?!.*\s-){PATH_START}.*)", re.DOTALL)
QUOTED_PATH = re.compile(rf"'([^'\s=]*=)?({PATH_START}[^']*)'")


def last_part(path: str) -> str:
    """The file or folder name at the end of `path`, with either separator."""
    return PureWindowsPath(path).name


def without_local_folders(text: str) -> str:
    """`text` with every absolute path cut to its last part: the card does not publish the trainer's file system."""
    if whole := WHOLE_PATH.fullmatch(text):
        return (whole[1] or "") + last_part(whole[2])
    text = QUOTED_PATH.sub(lambda word: shlex.quote((word[1] or "") + last_part(word[2])), text)
    return ABSOLUTE_PATH.sub(lambda path: last_part(path.group()), text)


def without_local_folders_in(record: Any) -> Any:
    """`record` (JSON: dicts, lists, strings, numbers) with `without_local_folders` applied to every string."""
    if isinstance(record, str):
        return without_local_folders(record)
    if isinstance(record, dict):
        return {key: without_local_folders_in(value) for key, value in record.items()}
    if isinstance(record, list):
        return [without_local_folders_in(value) for value in record]
    return record


def dataset_name(results: TrainingResults) -> str:
    """The data the training data was prepared from, as its summary names it (a Hub id, or a local folder by
    its name), else the dataset as training.json names it (a local folder by its name only)."""
    source_name = (results.dataset_summary or {}).get("source_name")  # older prepared data does not record it
    return source_name or without_local_folders(str(results.training["dataset"]))


def preparation_text(dataset_summary: dict | None) -> str:
    """How the training and validation splits were made from that data; "" if nothing is known."""
    if dataset_summary is None:
        return ""
    validation = dataset_summary["validation_fraction"]
    text = (f", cleaned by this project's `data_scripts` ({dataset_summary['dropped']:,} of its "
            f"{dataset_summary['rows_read']:,} rows left out, each with its reason in the cleaning report)")
    if dataset_summary.get("sample"):
        sample = dataset_summary["sample"]
        text += f", sampled ({sample['rows']:,} of the {sample['cleaned_rows']:,} rows kept, stratified)"
    return text + (f" and split {1 - validation:.0%} / {validation:.0%}, stratified by articleType "
                   f"(seed {dataset_summary['seed']})")


def install_command(folder: Path) -> str | None:
    """`pip install` of the packages that the folder's code imports (as transformers' remote-code check finds
    them), with this package's version ranges for them; None where this package is not installed."""
    try:
        declared = [Requirement(line) for line in importlib.metadata.requires(PACKAGE) or []]
    except importlib.metadata.PackageNotFoundError:
        return None
    modules = {module for path in sorted(folder.glob("*.py")) for module in get_imports(str(path))}
    distributions = importlib.metadata.packages_distributions()
    imported = {name.lower() for module in modules for name in distributions.get(module, [])}
    needed = [f'"{requirement}"' for requirement in declared if requirement.name.lower() in imported
              and requirement.marker is None]  # fmt: skip
    return f"pip install {' '.join(needed)}" if needed else None


def base_model(backbone_init: str) -> str | None:
    """The Hub id of the pretrained weights, for `base_model` metadata; timm hosts its weights under `timm/`."""
    if not backbone_init.startswith("hub:"):
        return None
    model_id = backbone_init.removeprefix("hub:")
    return model_id if "/" in model_id else f"timm/{model_id}"


def describe_backbone_init(backbone_init: str) -> str:
    kind, _, source = backbone_init.partition(":")
    return {
        "random": "random (trained from scratch, no pretrained weights)",
        "hub": f"pretrained timm weights `{source}`",
        "file": f"weights from the file `{without_local_folders(source)}`",
    }.get(kind, f"`{backbone_init}`")


def eval_results(results: TrainingResults) -> list[EvalResult]:
    """Accuracy and macro-F1 of every head on the validation split, one `model-index` metric each;
    `metric_config` names the head."""
    dataset = dataset_name(results)
    common = {"task_type": TASK_TYPE, "dataset_type": dataset, "dataset_name": dataset,
              "dataset_split": results.metrics["split"]}  # fmt: skip
    evals = []
    for head in results.heads:
        head_metrics = results.metrics["heads"][head]
        evals.append(EvalResult(**common, task_name=TASK_NAME, metric_type="accuracy",
                                metric_name=f"{head} accuracy", metric_config=head,
                                metric_value=head_metrics["accuracy"]))  # fmt: skip
        evals.append(EvalResult(**common, task_name=TASK_NAME, metric_type="f1",
                                metric_name=f"{head} macro-F1", metric_config=head, metric_args={"average": "macro"},
                                metric_value=head_metrics["macro_f1"]))  # fmt: skip
    return evals


def limitations(results: TrainingResults, summaries: list[HeadSummary]) -> list[str]:
    """The known weaknesses, with this run's own figures where it has them."""
    size = results.image_size
    upscaled = f", upscaled to {results.input_size[1]}×{results.input_size[0]}" if results.input_size else ""
    ratios = [s.imbalance_ratio for s in summaries if s.imbalance_ratio is not None]
    worst = [markdown_text(f"{s.name}: {c.label}") + f" {c.accuracy:.0%}" for s in summaries for c in s.worst[:1]]
    items = [
        "One item per image: every head gives one answer, so a photo with several products or a full outfit "
        "gets a mixed or arbitrary answer.",
        "Catalogue photos only: the training images show the product alone on a plain, high-contrast (mostly "
        "white) background; street photos, worn items and cluttered scenes are out of distribution.",
        f"Small, low-resolution data: {results.training['train_examples']} training images of about 60×80 px "
        f"(the model sees {size['width']}×{size['height']}{upscaled}), so logos, fabric and close colours are hard to "
        "tell apart.",
        f"Imbalanced classes (largest : smallest class up to {ratio_text(max(ratios, default=1))} : 1 within a head): "
        "rare classes are learnt from a handful of images and predicted much less reliably "
        f"(worst class per head: {'; '.join(worst)}). See *Class distribution and imbalance*.",
        "Noisy labels: attributes such as season (and usage) are merchandising choices, not visible properties of "
        "the photo, so the same-looking product can carry different labels; compare those heads with their "
        "majority-class baseline." + repeated_images_text(results.dataset_summary),
    ]
    if results.training["backbone_init"] == "random":
        items.append("Trained from random initialisation (no ImageNet pretraining): all features come from this "
                     "small dataset, so expect weaker generalisation than a pretrained backbone would give.")  # fmt: skip
    return items


def repeated_images_text(dataset_summary: dict | None) -> str:
    """What the training data's cleaning found of photos labelled twice, differently; "" if nothing is known."""
    repeated = (dataset_summary or {}).get("repeated_images")  # older prepared data does not record it
    if not repeated or not repeated["labelled_differently"]:
        return ""
    differing = ", ".join(f"{head} in {n}" for head, n in repeated["differing_heads"].items())
    return (f" Even the same photo does: of the {repeated['images']} photos on several in-scope, labelled rows of the "
            f"raw data, {repeated['labelled_differently']} had different labels ({differing}); cleaning left them out.")


def _image_snippet(repo_id: str, is_local: bool) -> str:
    """Code that gets the example photo: from the folder, or downloaded from the Hub repo."""
    if is_local:
        return f'image = "{Path(repo_id, EXAMPLE_IMAGE.name).as_posix()}"'
    return f'from huggingface_hub import hf_hub_download\nimage = hf_hub_download("{repo_id}", "{EXAMPLE_IMAGE.name}")'


def write_plots(results: TrainingResults) -> dict[str, object]:
    """Write every figure under `images/`; returns the template's image paths, relative to the folder."""
    images = results.folder / IMAGES_DIR
    confusion = {}
    for head, labels in results.heads.items():
        path = images / f"confusion_{head}.png"
        plot_confusion_matrix(head, labels, results.metrics["heads"][head]["confusion_matrix"], path)
        confusion[head] = path.relative_to(results.folder).as_posix()
    counts = {head: class_counts(results, head) for head in results.heads}
    plot_class_distribution({h: c for h, (c, _) in counts.items()}, {h: s for h, (_, s) in counts.items()},
                            images / "class_distribution.png")  # fmt: skip
    plot_accuracy_curve(results.metrics["history"], images / "accuracy_curve.png")
    return {
        "confusion_images": confusion,
        "distribution_image": f"{IMAGES_DIR}/class_distribution.png",
        "curve_image": f"{IMAGES_DIR}/accuracy_curve.png",
    }


def write_model_card(output_dir: str | Path, repo_id: str | None = None) -> Path:
    """Write `README.md`, `images/*.png` and `example.jpg` into the training output folder `output_dir`.

    `repo_id` is the Hub repo the usage snippets load from; without it they load the folder itself.
    Returns the README path. A missing or damaged record raises a ValueError naming it or the folder.
    """
    try:
        return _write_card(output_dir, repo_id)
    except (KeyError, IndexError, TypeError, AttributeError) as error:  # JSON, but not what train.py writes
        reason = traceback.format_exception_only(error)[-1].strip()
        raise ValueError(f"{output_dir}: a record lacks what the card needs ({reason}); docs/output_folder.md "
                         "describes them") from error


def _write_card(output_dir: str | Path, repo_id: str | None) -> Path:
    results = load_results(output_dir)
    summaries = [summarise_head(results, head) for head in results.heads]
    shutil.copyfile(EXAMPLE_IMAGE, results.folder / EXAMPLE_IMAGE.name)
    model_name = repo_id or results.folder.resolve().name
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag=TASK_TYPE,
        license="apache-2.0",
        tags=["image-classification", "timm", "fashion", "multi-head", "custom_code"],
        base_model=base_model(results.training["backbone_init"]),
        eval_results=eval_results(results),
    )
    snippet_repo = repo_id or Path(output_dir).as_posix()  # `out/`, `./out` and `out` give the same card
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=model_name,
        repo_id=snippet_repo,
        image_snippet=_image_snippet(snippet_repo, is_local=repo_id is None),
        install_command=install_command(results.folder),
        architecture=results.architecture,
        heads=summaries,
        metrics=results.metrics,
        training=results.training,
        hyperparameters=without_local_folders_in(results.training["hyperparameters"]),
        command=without_local_folders(results.training.get("command", "")),
        saved_ema_decay=next((epoch.get("ema_decay") for epoch in results.metrics["history"]
                              if epoch["epoch"] == results.metrics["best_epoch"]), None),
        dataset=dataset_name(results),
        preparation=preparation_text(results.dataset_summary),
        backbone_init=describe_backbone_init(results.training["backbone_init"]),
        image_size=results.image_size,
        input_size=results.input_size,
        limitations=limitations(results, summaries),
        md=markdown_text,
        ratio_text=ratio_text,
        **write_plots(results),
    )
    path = results.folder / "README.md"
    card.save(path)
    return path

