"""The model card written from a training output folder: parses, its numbers are metrics.json's, its images
exist and its usage snippets run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from huggingface_hub import ModelCard, ModelCardData

from helpers_output import UNSEEN_LABELS
from model_card import write_model_card
from model_card.__main__ import main as model_card_cli

IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.fixture(scope="module")
def carded(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy with the card written once, for the tests that only read it."""
    folder = Path(shutil.copytree(trained, tmp_path_factory.mktemp("carded") / "fashion-resnet50"))
    write_model_card(folder)
    return folder


def test_card_parses_with_valid_metadata_and_model_index(carded: Path) -> None:
    card = ModelCard.load(carded / "README.md")
    front_matter = yaml.safe_load(card.content.split("---")[1])
    assert front_matter["pipeline_tag"] == "image-classification"
    assert front_matter["model-index"][0]["name"] == "fashion-resnet50"
    ModelCardData(**card.data.to_dict())  # the metadata round-trips through huggingface_hub's own validation
    assert {r.task_type for r in card.data.eval_results} == {"image-classification"}
    assert {r.dataset_split for r in card.data.eval_results} == {"validation"}


def test_model_index_numbers_are_the_metrics(carded: Path) -> None:
    card = ModelCard.load(carded / "README.md")
    metrics = json.loads((carded / "metrics.json").read_text())
    reported = {(r.metric_config, r.metric_type): r.metric_value for r in card.data.eval_results}
    expected = {}
    for head, head_metrics in metrics["heads"].items():
        expected[head, "accuracy"] = head_metrics["accuracy"]
        expected[head, "f1"] = head_metrics["macro_f1"]
    assert reported == expected
    # The table shows the same numbers, rounded, and the imbalance section each accuracy as the table does.
    for head, head_metrics in metrics["heads"].items():
        accuracy = f"{head_metrics['accuracy'] * 100:.1f}%"
        assert f"| {head} | {len(head_metrics['per_class'])} | {accuracy} |" in card.text
        assert f"below accuracy\n({accuracy})" in card.text.split(f"### {head}", 1)[1]


def test_every_referenced_image_exists(carded: Path) -> None:
    card = ModelCard.load(carded / "README.md")
    referenced = IMAGE_LINK.findall(card.text)
    heads = json.loads((carded / "config.json").read_text())["heads"]
    assert {f"images/confusion_{head}.png" for head in heads} | {"images/accuracy_curve.png", "example.jpg"} <= set(
        referenced
    )
    for path in referenced:
        assert (carded / path).is_file(), path


def test_imbalance_section_reads_the_dataset_summary_else_the_validation_support(output_dir: Path) -> None:
    card = ModelCard.load(write_model_card(output_dir))
    assert "Counts from the training split" in card.text
    repeated = json.loads((output_dir / "dataset_summary.json").read_text())["repeated_images"]
    noise = f"of the {repeated['images']} photos on several in-scope, labelled rows of the raw data, {repeated['labelled_differently']}"
    assert noise in card.text  # the labels' measured noise, from the cleaning
    for label in UNSEEN_LABELS.values():  # classes with no image are named
        assert re.search(rf"Classes with no image there: [^\n]*{label}", card.text)
    (output_dir / "dataset_summary.json").unlink()
    card = ModelCard.load(write_model_card(output_dir))
    assert "Counts from the validation split" in card.text
    assert "Counts from the training split" not in card.text
    assert "Even the same photo" not in card.text


def rename_label(folder: Path, head: str, old: str, new: str) -> None:
    """`old` renamed `new` in every record of `folder` that names the labels of `head`."""
    def renamed(labels):
        return [new if label == old else label for label in labels]

    def rekeyed(by_label):
        return {new if label == old else label: value for label, value in by_label.items()}

    config, metrics = (json.loads((folder / name).read_text()) for name in ("config.json", "metrics.json"))
    summary = json.loads((folder / "dataset_summary.json").read_text())
    config["heads"][head] = renamed(config["heads"][head])
    metrics["heads"][head]["per_class"] = rekeyed(metrics["heads"][head]["per_class"])
    for split in summary["splits"].values():
        split["class_counts"][head] = rekeyed(split["class_counts"][head])
    for name, record in (("config.json", config), ("metrics.json", metrics), ("dataset_summary.json", summary)):
        (folder / name).write_text(json.dumps(record))


def test_labels_with_markdown_characters_are_shown_as_they_are_and_keep_their_table_rows(output_dir: Path) -> None:
    # Before, `Pants | Track` split its rows into more cells than the header, and `*T*shirts` turned italic.
    labels = json.loads((output_dir / "config.json").read_text())["heads"]["articleType"]
    rename_label(output_dir, "articleType", labels[0], "Pants | Track")
    rename_label(output_dir, "articleType", labels[1], "*T*shirts")
    text = ModelCard.load(write_model_card(output_dir)).text
    assert "Pants \\| Track" in text and "\\*T\\*shirts" in text
    tables, rows = [], []  # per table, the number of cells of each row (its header's first)
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append(len(re.split(r"(?<!\\)\|", line)))
        elif rows:
            tables, rows = [*tables, rows], []
    assert len(tables) > 5 and all(len(set(cells)) == 1 for cells in tables), tables


def test_an_imbalance_under_10_to_1_is_written_to_a_tenth(output_dir: Path) -> None:
    counts = json.loads((output_dir / "dataset_summary.json").read_text())["splits"]["train"]["class_counts"]["season"]
    ratio = max(counts.values()) / min(count for count in counts.values() if count)
    assert ratio < 2  # 4 : 3, which was written "1 : 1"
    text = ModelCard.load(write_model_card(output_dir)).text
    assert f"Largest : smallest class = {ratio:.1f} : 1." in text


def test_dataset_is_the_source_named_by_the_prepared_data_else_the_training_dataset(output_dir: Path) -> None:
    card = ModelCard.load(write_model_card(output_dir))
    assert {r.dataset_name for r in card.data.eval_results} == {"fashion-product-images-small"}
    assert ("- Dataset: `fashion-product-images-small`, cleaned by this project's `data_scripts` (4 of its 12 rows "
            "left out, each with its reason in the cleaning report) and split 75% / 25%, stratified by articleType "
            "(seed 0); ") in card.text
    summary_path = output_dir / "dataset_summary.json"
    summary = json.loads(summary_path.read_text())
    summary["sample"] = {"rows": 8, "cleaned_rows": 1000, "min_per_class": 1}
    summary_path.write_text(json.dumps(summary))
    assert ", sampled (8 of the 1,000 rows kept, stratified) and split" in ModelCard.load(write_model_card(output_dir)).text
    summary_path.unlink()
    card = ModelCard.load(write_model_card(output_dir))
    assert {r.dataset_name for r in card.data.eval_results} == {"tests/fixtures/images"}
    assert "- Dataset: `tests/fixtures/images`; " in card.text


def test_most_confused_pairs_count_both_directions_and_skip_pairs_never_confused(output_dir: Path) -> None:
    metrics_path = output_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    labels = json.loads((output_dir / "config.json").read_text())["heads"]["articleType"]
    matrix = [[0] * len(labels) for _ in labels]
    matrix[0][0], matrix[0][2], matrix[2][0], matrix[3][1] = 50, 6, 2, 2  # rows: true class
    metrics["heads"]["articleType"]["confusion_matrix"] = matrix
    metrics_path.write_text(json.dumps(metrics))
    text = ModelCard.load(write_model_card(output_dir)).text
    rows = [line for line in text.splitlines() if line.startswith("| articleType | ") and " / " in line]
    assert rows == [f"| articleType | {labels[0]} / {labels[2]} | 8 | 80% |",
                    f"| articleType | {labels[1]} / {labels[3]} | 2 | 20% |"]

    for head in metrics["heads"].values():  # no errors anywhere: no table at all, not an empty one
        head["confusion_matrix"] = [[int(i == j) for j in range(len(head["per_class"]))] for i in range(len(head["per_class"]))]
    metrics_path.write_text(json.dumps(metrics))
    assert "| head | pair | errors |" not in ModelCard.load(write_model_card(output_dir)).text


def test_card_publishes_no_local_folder(output_dir: Path) -> None:
    training_path = output_dir / "training.json"
    training = json.loads(training_path.read_text())
    training["hyperparameters"] |= {"dataset": "/home/alice/fashion/prepared", "backbone_weights": "/home/alice/w.safetensors"}
    training |= {"dataset": "/home/alice/fashion/prepared", "backbone_init": "file:/home/alice/w.safetensors",
                 "command": "accelerate launch /home/alice/repo/train.py --dataset=/home/alice/fashion/prepared"}
    training_path.write_text(json.dumps(training))
    card = ModelCard.load(write_model_card(output_dir))
    assert "/home/alice" not in card.content
    assert "`accelerate launch train.py --dataset=prepared`" in card.text and "`w.safetensors`" in card.text


def test_input_size_and_weight_average_are_described_as_they_were(output_dir: Path) -> None:
    config_path, metrics_path, training_path = (output_dir / name for name in ("config.json", "metrics.json", "training.json"))
    size = json.loads((output_dir / "preprocessor_config.json").read_text())["size"]
    config, metrics, training = (json.loads(path.read_text()) for path in (config_path, metrics_path, training_path))
    config_path.write_text(json.dumps({**config, "input_size": [size["height"], size["width"]]}))
    assert "upscaled" not in ModelCard.load(write_model_card(output_dir)).text  # the photos' own size: nothing upscaled
    config_path.write_text(json.dumps({**config, "input_size": [2 * size["height"], 2 * size["width"]]}))
    assert f"upscaled by the model to {2 * size['width']}×{2 * size['height']}" in ModelCard.load(write_model_card(output_dir)).text

    training["hyperparameters"]["ema_decay"] = 0.998
    training_path.write_text(json.dumps(training))
    for epoch in metrics["history"]:
        epoch["ema_decay"] = 0.99 if epoch["epoch"] == metrics["best_epoch"] else 0.5
    metrics_path.write_text(json.dumps(metrics))
    text = ModelCard.load(write_model_card(output_dir)).text
    assert "decay warming up to at most 0.998, 0.99 at the saved epoch" in text


def test_random_init_is_a_limitation_and_pretrained_init_is_the_base_model(output_dir: Path) -> None:
    card = ModelCard.load(write_model_card(output_dir))
    assert "Trained from random initialisation" in card.text
    assert card.data.base_model is None
    training_path = output_dir / "training.json"
    training = json.loads(training_path.read_text())
    training_path.write_text(json.dumps({**training, "backbone_init": "hub:resnet50.a1_in1k"}))
    card = ModelCard.load(write_model_card(output_dir))
    assert "Trained from random initialisation" not in card.text
    assert card.data.base_model == "timm/resnet50.a1_in1k"


def test_cli_names_the_repo_in_metadata_and_snippets(output_dir: Path, capsys: pytest.CaptureFixture) -> None:
    model_card_cli([str(output_dir), "--repo-id", "someone/fashion-resnet50"])
    assert capsys.readouterr().out.strip() == str(output_dir / "README.md")
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.model_name == "someone/fashion-resnet50"
    assert 'hf_hub_download("someone/fashion-resnet50", "example.jpg")' in card.text
    assert 'pipeline(model="someone/fashion-resnet50", trust_remote_code=True)' in card.text


def test_each_head_s_model_index_results_keep_their_head_after_a_round_trip(carded: Path) -> None:
    # huggingface_hub groups results by task type and dataset: per-head task names came back as the first head's.
    card = ModelCard.load(carded / "README.md")
    heads = list(json.loads((carded / "metrics.json").read_text())["heads"])
    for result in card.data.eval_results:
        named = [head for head in heads if head in f"{result.task_name} {result.metric_name}"]
        assert named == [result.metric_config], (result.task_name, result.metric_name)


@pytest.mark.parametrize("damage", ["missing", "cut short", "another shape"])
def test_the_cli_names_a_missing_or_damaged_record_in_one_line(damage: str, output_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    folder = Path(shutil.copytree(output_dir, tmp_path / "run"))
    metrics = folder / "metrics.json"
    if damage == "missing":
        metrics.unlink()
    elif damage == "cut short":
        metrics.write_text(metrics.read_text()[:300])
    else:  # valid JSON, but not what train.py writes
        metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "history": []}))
    with pytest.raises(SystemExit) as exited:
        model_card_cli([str(folder)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert (f"{metrics}: " if damage != "another shape" else f"{folder}: a record lacks") in err
    assert "Traceback" not in err


def test_the_folder_is_named_alike_in_the_snippets_however_it_is_spelled(output_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir(output_dir.parent)
    cards = {spelling: ModelCard.load(write_model_card(spelling)).text
             for spelling in (output_dir.name, f"{output_dir.name}/", f"./{output_dir.name}")}  # fmt: skip
    assert len(set(cards.values())) == 1
    assert f'pipeline(model="{output_dir.name}", trust_remote_code=True)' in cards[output_dir.name]


def test_the_card_says_what_to_install_for_the_code_it_ships(output_dir: Path) -> None:
    # What the folder's code imports, with the ranges pyproject.toml declares for them (the package is installed).
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {Requirement(line).name: str(Requirement(line)) for line in declared}
    needed = " ".join(f'"{ranges[name]}"' for name in ("torch", "timm", "transformers", "pillow", "numpy"))
    card = ModelCard.load(write_model_card(output_dir))
    assert f"The code in this repository needs: `pip install {needed}`." in card.text


def test_usage_snippets_run(output_dir: Path, tmp_path: Path) -> None:
    card = ModelCard.load(write_model_card(output_dir))
    snippets = PYTHON_BLOCK.findall(card.text)
    assert len(snippets) == 2
    script = tmp_path / "snippets.py"
    script.write_text("\n".join(snippets))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    heads = json.loads((output_dir / "config.json").read_text())["heads"]
    for head, labels in heads.items():
        assert re.search(rf"^{head} ({'|'.join(map(re.escape, labels))})$", result.stdout, re.MULTILINE)
