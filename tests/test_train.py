"""train.py on a tiny real dataset (cut from the bundled sample), a tiny backbone, CPU processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import accelerate
import evaluate
import pyarrow
import pytest
import safetensors.torch
import timm
import torch

import datasets
from conftest import make_tiny_model

import data_scripts
from data_scripts.prepare import SAMPLE_DIR, load_prepared
import train
from modeling import IGNORE_INDEX, FashionImageProcessor, FashionResNetConfig, FashionResNetModel, multi_head_loss

REPO = Path(__file__).resolve().parents[1]
TINY = ["--architecture", "test_resnet", "--backbone_weights", "none", "--batch_size", "16", "--log_every", "2"]


def make_dataset(folder: Path, train_rows: range, validation_rows: range, validation_split: str = "validation") -> Path:
    """A prepared dataset folder with a few real rows of the bundled sample (full class lists kept)."""
    sample = load_prepared(SAMPLE_DIR)
    sample["train"].select(train_rows).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    sample[validation_split].select(validation_rows).to_parquet(folder / "data" / "validation-00000-of-00001.parquet")
    return folder


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tiny"), range(96), range(48))


def launch(*args: str, processes: int = 1, check: bool = True, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """`accelerate launch train.py ARGS` on CPU processes, as a user would run it; `processes=0`: plain python."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes),
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launcher += ["--multi_gpu"] if processes > 1 else ["--cpu"]
    if processes == 0:
        launcher = [sys.executable]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [*launcher, str(REPO / "train.py"), *args]
    if popen:
        return subprocess.Popen(command, cwd=REPO, env=env, **popen)
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"train.py failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def read_json(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("uninterrupted")
    launch(*TINY, "--dataset", str(tiny_dataset), "--epochs", "3", "--checkpoint_every", "5",
           "--output_dir", str(output), "--cache_dir", str(output / "cache"))
    return output


def test_loss_decreases_on_a_batch_it_can_overfit(tmp_path):
    # The same 16 images for training and validation: memorising them must drive the loss down.
    dataset = make_dataset(tmp_path / "data", range(16), range(16), validation_split="train")
    output = tmp_path / "out"
    launch("--architecture", "test_resnet", "--backbone_weights", "none", "--dataset", str(dataset),
           "--batch_size", "16", "--epochs", "40", "--lr", "0.01", "--warmup_fraction", "0", "--max_shift", "0",
           "--label_smoothing", "0", "--class_weight_power", "0", "--output_dir", str(output),
           "--cache_dir", str(tmp_path / "cache"))
    history = read_json(output, "metrics.json")["history"]
    assert history[-1]["train_loss"] < 0.25 * history[0]["train_loss"]
    assert history[-1]["mean_accuracy"] > history[0]["mean_accuracy"]


def test_output_folder_is_complete_and_pipeline_matches_evaluation(uninterrupted, tiny_dataset):
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "metrics.json", "training.json",
                 "README.md", "modeling_fashion_resnet.py", "pipeline_fashion_attributes.py"):
        assert (uninterrupted / name).exists(), name
    # The labels are the dataset's ClassLabel names, in their order: a class id means the same in both.
    features = datasets.load_dataset(str(tiny_dataset), split="train").features
    assert read_json(uninterrupted, "config.json")["heads"] == {h: features[h].names for h in data_scripts.HEADS}
    metrics = read_json(uninterrupted, "metrics.json")
    assert predicted_confusion_matrices(uninterrupted, tiny_dataset) == {
        head: scores["confusion_matrix"] for head, scores in metrics["heads"].items()}


def predicted_confusion_matrices(folder: Path, dataset: Path) -> dict[str, list[list[int]]]:
    """The validation images of `dataset` predicted with the saved `folder` in a fresh process (no `modeling`
    import), as the evaluation's confusion matrices."""
    script = f"""
import json, sys
from datasets import load_dataset
from transformers import pipeline
validation = load_dataset({str(dataset)!r}, split="validation")
pipe = pipeline(model={str(folder)!r}, trust_remote_code=True)
heads = pipe.model.config.heads
matrices = {{h: [[0] * len(labels) for _ in labels] for h, labels in heads.items()}}
for row, answer in zip(validation, pipe([row["image"] for row in validation], batch_size=8)):
    for head, labels in heads.items():
        matrices[head][row[head]][labels.index(answer[head][0]["label"])] += 1
assert "modeling" not in sys.modules
print(json.dumps(matrices))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=folder.parent, capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def descendants(pid: int) -> list[int]:
    """The processes that `pid` started, and those they started, as Linux lists them."""
    children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]  # fmt: skip
    return [each for child in children for each in (child, *descendants(child))]


def kill_after_second_checkpoint(args: list[str], output: Path, processes: int = 1) -> None:
    """Start `train.py ARGS` (checkpointing every 5 steps into `output`) and kill it mid-training."""
    process = launch(*args, processes=processes, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (output / "checkpoints" / "checkpoint-00000010").exists():
        assert process.poll() is None and time.monotonic() < deadline, "training ended before its second checkpoint"
        time.sleep(0.05)
    workers = descendants(process.pid)  # torchrun starts them in sessions of their own: killpg misses them
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and its workers, mid-training
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):  # gone with the launcher
            os.kill(pid, signal.SIGKILL)
    process.wait()
    assert not (output / "metrics.json").exists()


# The README's resume command names only the output folder: the run's flags come from its checkpoint. A run
# fitted to a time budget (here all 3 epochs fit) keeps its epochs, however fast the resuming machine is.
@pytest.mark.parametrize("budget", [[], ["--time_budget_s", "3600"]], ids=["epochs", "time-budget"])
def test_killed_run_resumes_to_the_same_result(uninterrupted, tiny_dataset, tmp_path, budget):
    run_control = ["--output_dir", str(tmp_path), "--cache_dir", str(uninterrupted / "cache")]
    args = [*TINY, "--dataset", str(tiny_dataset), "--epochs", "3", "--checkpoint_every", "5", *run_control]
    kill_after_second_checkpoint([*args, *budget], tmp_path)
    resumed = launch(*run_control, "--resume")
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert "--architecture test_resnet" in read_json(tmp_path, "training.json")["command"]  # as it started
    expected, got = read_json(uninterrupted, "metrics.json"), read_json(tmp_path, "metrics.json")
    assert got["heads"] == expected["heads"]  # bitwise: same batches, augmentations and optimizer state
    assert [h["train_loss"] for h in got["history"]] == [h["train_loss"] for h in expected["history"]]


def test_a_run_is_not_resumed_on_another_number_of_processes(tiny_dataset, tmp_path):
    # On CPUs each process normalises its own share of the batch: resumed on 2, a run started on 1 trained
    # differently, silently, and its training.json gave 2 processes and a command for 1.
    run_control = ["--output_dir", str(tmp_path), "--cache_dir", str(tmp_path / "cache")]
    kill_after_second_checkpoint([*TINY, "--dataset", str(tiny_dataset), "--epochs", "3", "--checkpoint_every", "5",
                                  *run_control], tmp_path)
    resumed = launch(*run_control, "--resume", processes=2, check=False)
    assert resumed.returncode != 0 and "resume it as it started" in resumed.stderr
    assert "'num_processes': 1, 'mixed_precision': 'no'}, not {'num_processes': 2" in resumed.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_the_weight_average_is_what_is_evaluated_saved_and_resumed(uninterrupted, tiny_dataset, tmp_path):
    args = [*TINY, "--dataset", str(tiny_dataset), "--epochs", "3", "--checkpoint_every", "5", "--ema_decay", "0.99",
            "--cache_dir", str(uninterrupted / "cache")]
    launch(*args, "--output_dir", str(tmp_path / "average"))
    plain, average = read_json(uninterrupted, "metrics.json"), read_json(tmp_path / "average", "metrics.json")
    # Training itself is untouched, bitwise; what is evaluated and saved is another set of weights.
    assert [h["train_loss"] for h in average["history"]] == [h["train_loss"] for h in plain["history"]]
    assert [h["accuracy"] for h in average["history"]] != [h["accuracy"] for h in plain["history"]]
    weights = {name: safetensors.torch.load_file(folder / "model.safetensors")
               for name, folder in (("plain", uninterrupted), ("average", tmp_path / "average"))}
    assert any(not torch.equal(tensor, weights["average"][key]) for key, tensor in weights["plain"].items())
    # The decay warms up: each evaluation records the one it had, which the card gives for the saved epoch.
    decays = [epoch["ema_decay"] for epoch in average["history"]]
    assert decays == sorted(decays) and 0 < decays[0] < decays[-1] <= 0.99
    card = (tmp_path / "average" / "README.md").read_text()
    assert f"an exponential moving average of the trained weights (decay warming up to at most 0.99, " \
           f"{decays[average['best_epoch'] - 1]} at the saved epoch)" in card
    # The average is part of the checkpoint, as safetensors: a killed run resumes to the same result.
    kill_after_second_checkpoint([*args, "--output_dir", str(tmp_path / "resumed")], tmp_path / "resumed")
    checkpoint = tmp_path / "resumed" / "checkpoints" / "checkpoint-00000010"
    assert (checkpoint / train.AVERAGE_FILE).is_file() and not list(checkpoint.glob("custom_checkpoint_*"))
    launch(*args, "--output_dir", str(tmp_path / "resumed"), "--resume")
    assert read_json(tmp_path / "resumed", "metrics.json")["heads"] == average["heads"]


@pytest.fixture(scope="module")
def two_processes(uninterrupted, tiny_dataset, tmp_path_factory) -> Path:
    """The run of `uninterrupted` on two CPU processes, evaluating a weight average (which leaves training as it
    is, bitwise)."""
    output = tmp_path_factory.mktemp("two_processes")
    launch(*TWO_PROCESSES_ARGS, "--dataset", str(tiny_dataset), "--output_dir", str(output),
           "--cache_dir", str(uninterrupted / "cache"), processes=2)
    return output


TWO_PROCESSES_ARGS = [*TINY, "--epochs", "3", "--checkpoint_every", "5", "--ema_decay", "0.9"]


def test_two_processes_train_like_one_with_the_same_global_batch(uninterrupted, two_processes, tiny_dataset):
    one, two = read_json(uninterrupted, "metrics.json"), read_json(two_processes, "metrics.json")
    # Each validation image is counted once, not once per process.
    for head, scores in two["heads"].items():
        assert sum(map(sum, scores["confusion_matrix"])) == two["num_examples"] == 48, head
    # Same batches and augmentations; BatchNorm statistics are per process on CPU (SyncBatchNorm needs a
    # GPU), which is the only difference: measured at < 0.5 %, asserted at 2 %.
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.02)
    training = read_json(two_processes, "training.json")
    assert training["num_processes"] == 2
    # The command reruns it as it ran, whatever launched it: two processes (not `--cpu`'s one) on the CPU.
    assert training["command"].startswith("ACCELERATE_USE_CPU=true accelerate launch --num_processes 2 "
                                          "--mixed_precision no --multi_gpu --num_cpu_threads_per_process ")
    # BatchNorm statistics averaged over the processes before each evaluation: the saved model is the one
    # evaluated, on whichever process evaluated each image.
    assert predicted_confusion_matrices(two_processes, tiny_dataset) == {h: s["confusion_matrix"] for h, s in two["heads"].items()}


def test_a_run_on_two_cpu_processes_with_a_weight_average_resumes_to_the_same_result(two_processes, uninterrupted,
                                                                                     tiny_dataset, tmp_path):
    # Each process's average has BatchNorm statistics of its own until an evaluation averages them: a checkpoint
    # that kept the main process's alone resumed the other from it, and the saved weights differed.
    run_control = ["--output_dir", str(tmp_path), "--cache_dir", str(uninterrupted / "cache")]
    kill_after_second_checkpoint([*TWO_PROCESSES_ARGS, "--dataset", str(tiny_dataset), *run_control], tmp_path,
                                 processes=2)
    launch(*run_control, "--resume", processes=2)
    got, expected = read_json(tmp_path, "metrics.json"), read_json(two_processes, "metrics.json")
    assert got["heads"] == expected["heads"]
    assert [h["train_loss"] for h in got["history"]] == [h["train_loss"] for h in expected["history"]]
    resumed, saved = (safetensors.torch.load_file(folder / "model.safetensors") for folder in (tmp_path, two_processes))
    assert resumed.keys() == saved.keys() and all(torch.equal(resumed[key], saved[key]) for key in saved)


def averaged_batchnorm_statistics() -> None:
    """Run in each of two CPU processes: each process's own statistics in, the same averages out."""
    accelerator = accelerate.Accelerator(cpu=True)
    norm = torch.nn.BatchNorm2d(3)
    norm.running_mean.fill_(accelerator.process_index)
    norm.running_var.fill_(1.0 + 2 * accelerator.process_index)
    norm.num_batches_tracked.fill_(7)
    train.average_over_processes(norm.buffers(), accelerator)
    assert norm.running_mean.tolist() == [0.5] * 3 and norm.running_var.tolist() == [2.0] * 3
    assert norm.num_batches_tracked.item() == 7


def test_batchnorm_statistics_are_averaged_over_cpu_processes():
    # Without SyncBatchNorm (CPU), every process evaluates, as the main one saves, the averaged statistics.
    accelerate.debug_launcher(averaged_batchnorm_statistics, num_processes=2)


def test_compiled_upscaling_run_trains_like_eager_and_compilation_is_not_training_time(tiny_dataset, tmp_path,
                                                                                       monkeypatch):
    args = [*TINY, "--dataset", str(tiny_dataset), "--epochs", "2", "--input_size", "96", "72",
            "--cache_dir", str(tmp_path / "cache")]
    launch(*args, "--output_dir", str(tmp_path / "eager"))
    monkeypatch.setenv("TORCHINDUCTOR_FORCE_DISABLE_CACHES", "1")  # a real compilation: tens of seconds on CPU
    launch(*args, "--output_dir", str(tmp_path / "compiled"), "--compile")
    eager, compiled = read_json(tmp_path / "eager", "metrics.json"), read_json(tmp_path / "compiled", "metrics.json")
    for a, b in zip(eager["history"], compiled["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)  # same weights, same batches
    compile_seconds = read_json(tmp_path / "compiled", "training.json")["compile_seconds"]
    assert compiled["history"][-1]["elapsed_s"] < compile_seconds  # a second or two of training: not counted
    assert read_json(tmp_path / "compiled", "config.json")["input_size"] == [96, 72]


def test_warm_up_leaves_weights_statistics_gradients_optimizer_and_random_state_as_they_were():
    model = make_tiny_model(drop_rate=0.5).train()
    optimizer = torch.optim.AdamW(model.parameters())
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    pixels = torch.randn(4, 3, 80, 60)
    labels = torch.zeros(4, len(model.config.heads), dtype=torch.int64)

    def train_step() -> None:
        multi_head_loss(model(pixels).logits, labels).backward()
        optimizer.step()

    torch.manual_seed(7)
    first, per_batch = train.warm_up(model, optimizer, torch.device("cpu"), train_step, timed_batches=3)
    after_warm_up = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after_warm_up, torch.rand(3))  # dropout's draws were given back
    assert first > 0 and per_batch > 0
    assert all(parameter.grad is None for parameter in model.parameters())
    assert optimizer.state_dict()["state"] == {}  # no moments or step counts from the timed steps
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name  # BatchNorm's running statistics included


def test_epochs_fitted_to_a_time_budget_count_evaluation_and_stay_within_bounds():
    # 10 training batches and 4 evaluation batches (2 training batches' worth) of 0.5 s: 6 s per epoch.
    epoch_s = train.epoch_seconds(0.5, 10, 4)
    assert epoch_s == 6
    assert train.epochs_within(60, epoch_s, max_epochs=100) == 10
    assert train.epochs_within(59, epoch_s, max_epochs=100) == 9
    assert train.epochs_within(600, epoch_s, max_epochs=40) == 40
    assert train.epochs_within(1, epoch_s, max_epochs=40) == 1  # a budget below one epoch still trains one


def test_a_time_budget_sets_the_number_of_epochs_up_to_the_given_one(uninterrupted, tiny_dataset, tmp_path):
    args = [*TINY, "--dataset", str(tiny_dataset), "--epochs", "3", "--checkpoint_every", "5",
            "--cache_dir", str(uninterrupted / "cache")]
    result = launch(*args, "--time_budget_s", "0.001", "--output_dir", str(tmp_path))
    assert "1 epochs (at most 3); one epoch takes about" in result.stdout + result.stderr  # said, not silent
    assert "past the budget, and is trained all the same" in result.stdout + result.stderr
    budget = read_json(tmp_path, "training.json")["time_budget"]
    assert budget["epochs"] == 1 and budget["seconds_per_batch"] > 0
    assert len(read_json(tmp_path, "metrics.json")["history"]) == 1
    assert "time budget of 0.001 s" in (tmp_path / "README.md").read_text()
    # A generous budget is capped by --epochs: the run trains exactly as without a budget.
    capped = launch(*args, "--time_budget_s", "3600", "--output_dir", str(tmp_path / "capped"))
    assert "epochs (at most 3)\n" in capped.stdout + capped.stderr
    expected, got = read_json(uninterrupted, "metrics.json"), read_json(tmp_path / "capped", "metrics.json")
    assert [h["train_loss"] for h in got["history"]] == [h["train_loss"] for h in expected["history"]]


def test_a_lone_cpu_process_with_idle_cores_is_told_how_to_use_them(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what `accelerate launch` sets without a configuration
    hint = train.idle_cores_hint(torch.device("cpu"), num_processes=1, threads=1, cores=2)
    assert "1 of 2 CPU cores (OMP_NUM_THREADS=1:" in hint and "accelerate config default" in hint
    assert train.idle_cores_hint(torch.device("cpu"), num_processes=1, threads=2, cores=2) is None
    # Several processes share the cores on purpose, and a GPU does the work itself.
    assert train.idle_cores_hint(torch.device("cpu"), num_processes=2, threads=1, cores=2) is None
    assert train.idle_cores_hint(torch.device("cuda"), num_processes=1, threads=1, cores=16) is None


@pytest.mark.parametrize("flags", [["--preset", "h100"], ["--preset=h100"]])
def test_a_preset_sets_defaults_that_flags_override(flags):
    config = train.parse_config([*flags, "--batch_size", "64"])
    assert config.batch_size == 64
    assert all(getattr(config, name) == value for name, value in train.PRESETS["h100"].items() if name != "batch_size")


@pytest.mark.parametrize(("flag", "value", "wanted"), [
    ("--log_every", "0", "at least 1"),  # divided by zero at the first step
    ("--keep_checkpoints", "0", "at least 1"),  # kept them all
    ("--eval_batch_size", "0", "at least 1"),
    ("--mixup_alpha", "-0.2", "0 or more"),
    ("--max_shift", "-2", "0 or more"),  # failed in torch after the data was loaded
    ("--ema_decay", "-0.5", "in [0, 1)"),  # trained with no average at all
    ("--label_smoothing", "2", "in [0, 1)"),
    ("--warmup_fraction", "3", "in [0, 1]"),
    ("--lr", "-1", "more than 0"),
    ("--seed", "-1", "in [0, 2**32)"),  # numpy's set_seed raised after the launch, naming no flag
])  # fmt: skip
def test_flags_out_of_range_are_refused_before_anything_is_loaded(flag, value, wanted, capsys):
    with pytest.raises(SystemExit):
        train.parse_config([flag, value])
    assert f"{flag} must be {wanted}, got {value}" in capsys.readouterr().err


def test_a_fresh_run_refuses_an_unfinished_runs_checkpoints(tiny_dataset, tmp_path):
    # Trained on, it would mix its checkpoints with the earlier run's (or crash writing one of the same step).
    stale = tmp_path / "out" / "checkpoints" / "checkpoint-00000005"
    stale.mkdir(parents=True)
    result = launch(*TINY, "--dataset", str(tiny_dataset), "--output_dir", str(tmp_path / "out"), processes=0,
                    check=False)
    assert result.returncode != 0
    assert f"{stale.parent} holds the checkpoints of an unfinished run: pass --resume" in result.stderr
    assert stale.is_dir()


def test_the_best_epoch_is_the_one_saved_not_the_last(tiny_dataset, tmp_path, monkeypatch):
    # The evaluation is made to rank the first of two epochs best: the folder must hold that epoch's weights.
    evaluated, evaluate_heads = [], train.evaluate_heads

    def first_epoch_best(model, *args):
        evaluated.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
        results = evaluate_heads(model, *args)
        return {head: scores | {"accuracy": 0.9 if len(evaluated) == 1 else 0.1} for head, scores in results.items()}

    monkeypatch.setattr(train, "evaluate_heads", first_epoch_best)
    output = tmp_path / "out"
    try:
        train.main(train.parse_config([*TINY, "--dataset", str(tiny_dataset), "--epochs", "2", "--output_dir",
                                       str(output), "--cache_dir", str(tmp_path / "cache")]))  # fmt: skip
    finally:
        accelerate.state.AcceleratorState._reset_state(reset_partial_state=True)  # this process is not a run's
    assert read_json(output, "metrics.json")["best_epoch"] == 1
    saved = safetensors.torch.load_file(output / "model.safetensors")
    assert all(torch.equal(tensor, evaluated[0][name]) for name, tensor in saved.items())
    assert not all(torch.equal(tensor, evaluated[1][name]) for name, tensor in saved.items())


def test_a_new_run_in_a_finished_runs_folder_leaves_none_of_its_reports(tiny_dataset, tmp_path):
    # The earlier run had a dataset summary to copy, this one has none: the card must not describe the other data.
    output = tmp_path / "out"
    (output / "images").mkdir(parents=True)
    for name in ("training.json", "metrics.json", "dataset_summary.json", "README.md", "images/curves.png", "notes.txt"):
        (output / name).write_text("{}")
    run = [*TINY, "--epochs", "1", "--output_dir", str(output), "--cache_dir", str(tmp_path / "cache")]
    failed = launch(*run, "--dataset", "./no-such-data", processes=0, check=False)
    assert failed.returncode != 0 and (output / "metrics.json").is_file()  # a run that never started replaces nothing
    # --resume with no checkpoint to resume from is refused: no new run with the default flags replaces it.
    refused = launch(*run, "--dataset", str(tiny_dataset), "--resume", processes=0, check=False)
    assert refused.returncode == 2 and f"--resume: no checkpoint in {output / 'checkpoints'}" in refused.stderr
    assert (output / "metrics.json").is_file()
    result = launch(*run, "--dataset", str(tiny_dataset), processes=0)
    assert f"{output} holds a finished run: replacing it" in result.stdout
    assert not (output / "dataset_summary.json").exists() and not (output / "images" / "curves.png").exists()
    assert read_json(output, "training.json")["dataset"] == str(tiny_dataset)
    assert (output / "notes.txt").read_text() == "{}"  # not the run's: kept


def test_a_head_without_a_labelled_validation_image_is_named(tmp_path):
    dataset = make_dataset(tmp_path / "data", range(32), range(16))
    validation = dataset / "data" / "validation-00000-of-00001.parquet"
    split = datasets.Dataset.from_parquet(str(validation))
    split.map(lambda row: {"usage": -1}, features=split.features).to_parquet(validation)  # -1: missing
    result = launch(*TINY, "--dataset", str(dataset), "--output_dir", str(tmp_path / "out"), processes=0, check=False)
    assert result.returncode != 0
    assert f"no validation image of {dataset} has a label for usage" in result.stderr


@pytest.mark.parametrize("missing", ["./no-such-data", "/no/such/data", "~/no-such-data"])
def test_a_dataset_path_that_does_not_exist_is_named_not_looked_up_on_the_hub(missing, tmp_path):
    with pytest.raises(SystemExit, match=f"--dataset {missing}: no such file or folder"):
        train.load_splits(missing, tmp_path)


def test_the_default_dataset_is_the_bundled_sample_from_any_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(SAMPLE_DIR.parents[1])  # the repository's root, where the README runs it
    assert train.parse_config([]).dataset == "data/sample"
    monkeypatch.chdir(tmp_path)  # before, looked up as a Hub dataset named data/sample, and refused offline
    config = train.parse_config([])
    assert config.dataset == str(SAMPLE_DIR)
    assert len(train.load_splits(config.dataset, tmp_path / "cache")["validation"]) == 400


def test_a_prepared_image_that_is_a_path_only_is_refused_not_fetched(tmp_path):
    # Before, a path-only cell was read from wherever it pointed: a private file, or a URL requested from its server.
    split = load_prepared(SAMPLE_DIR)["validation"].select(range(3)).flatten_indices()
    table = split.data.table
    url = "http://127.0.0.1:9/private.jpg"
    paths = pyarrow.array([{"bytes": None, "path": url}] * 3, type=table.schema.field("image").type)
    only_paths = datasets.Dataset(table.set_column(table.column_names.index("image"), "image", paths),
                                  info=split.info, split=split.split)  # fmt: skip
    with pytest.raises(SystemExit, match=f"^row 0 of the validation split: the image is a path only \\('{url}'\\)"):
        train.encode_split(only_paths, FashionImageProcessor(), tmp_path)


def test_a_missing_parquet_file_is_named_as_a_missing_file_not_looked_up_on_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # before, a ConnectionError traceback about the Hub
    with pytest.raises(SystemExit, match="^--dataset fashion/missing.parquet: no such file or folder$"):
        train.load_splits("fashion/missing.parquet", tmp_path / "cache")


def test_a_missing_relative_dataset_path_is_named_as_neither_a_folder_nor_a_hub_dataset(tmp_path, monkeypatch):
    # `data/no-such-data` could be a Hub id too: offline (as the suite is), the Hub lookup fails, and the error
    # must say both, not end in a traceback about the Hub.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="--dataset data/no-such-data: no such file or folder, nor a Hub dataset"):
        train.load_splits("data/no-such-data", tmp_path / "cache")


def test_raw_data_that_cannot_be_prepared_is_named_without_a_traceback(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "styles.csv").write_text(",".join(data_scripts.rules.RAW_COLUMNS) + "\n")
    with pytest.raises(SystemExit, match=f"--dataset {tmp_path / 'raw'}: .*no images/ folder or images.tar"):
        train.load_splits(str(tmp_path / "raw"), tmp_path / "cache")


def test_a_prepared_dataset_without_a_validation_split_is_refused_not_cleaned_and_split_again(tmp_path):
    # Taken for raw data, its train and test rows were cleaned, merged and split anew, and trained on, silently.
    folder = make_dataset(tmp_path / "data", range(96), range(48))
    (folder / "data" / "validation-00000-of-00001.parquet").rename(folder / "data" / "test-00000-of-00001.parquet")
    with pytest.raises(SystemExit, match=r"without a validation split \(it has train, test\)"):
        train.load_splits(str(folder), tmp_path / "cache")
    assert not (tmp_path / "cache" / "prepared").exists()


def test_a_dataset_path_under_the_home_folder_is_read_from_there(tmp_path, monkeypatch):
    # `--dataset=~/data`: the shell leaves the ~ in place; it was looked up on the Hub.
    monkeypatch.setenv("HOME", str(tmp_path))
    make_dataset(tmp_path / "data", range(32), range(16))
    config = train.parse_config(["--dataset=~/data", "--output_dir=~/run", "--cache_dir=~/cache"])
    assert (config.output_dir, config.cache_dir) == (str(tmp_path / "run"), str(tmp_path / "cache"))
    splits = train.load_splits(config.dataset, Path(config.cache_dir))
    assert len(splits["train"]) == 32 and len(splits["validation"]) == 16


@pytest.mark.parametrize(("flags", "message"), [
    (["--architecture", "resnet5"], "--architecture 'resnet5' is not a timm model"),
    (["--architecture", "resnet50.no_such_tag"], "--architecture 'resnet50.no_such_tag' is not a timm model, or not"),
    (["--backbone_weights", "resnet50.pth"], "--backbone_weights must be auto, imagenet, none or a .safetensors file, "
                                             "got 'resnet50.pth'"),
    (["--backbone_weights", "/no/such/resnet50.safetensors"], "--backbone_weights /no/such/resnet50.safetensors: no "
                                                              "such file"),
    (["--tracker", "bogus"], "--tracker must be one of accelerate's: all, "),
])  # fmt: skip
def test_a_model_weights_or_tracker_that_cannot_be_had_is_refused_before_the_data_is_read(flags, message, capsys):
    # Before, each was found after the data was prepared and decoded, some as a traceback.
    with pytest.raises(SystemExit):
        train.parse_config(flags)
    assert message in capsys.readouterr().err


def test_a_tracker_whose_package_is_not_installed_is_refused_not_silently_left_out(capsys, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "_available_trackers", [])  # before, a warning and no logs at all
    with pytest.raises(SystemExit):
        train.parse_config(["--tracker", "tensorboard"])
    assert "--tracker tensorboard: its package is not installed" in capsys.readouterr().err
    monkeypatch.setattr(accelerate.tracking, "_available_trackers", [accelerate.tracking.LoggerType.TENSORBOARD])
    assert train.parse_config(["--tracker", "tensorboard"]).tracker == "tensorboard"


def test_input_size_needs_a_height_and_a_width(capsys):
    with pytest.raises(SystemExit):
        train.parse_config(["--input_size", "160"])
    assert "--input_size takes a height and a width" in capsys.readouterr().err


def test_requesting_hub_weights_offline_says_how_to_proceed(tiny_dataset, tmp_path):
    result = launch(*TINY, "--backbone_weights", "imagenet", "--dataset", str(tiny_dataset), "--epochs", "1",
                    "--output_dir", str(tmp_path), "--cache_dir", str(tmp_path / "cache"), processes=0, check=False)
    assert result.returncode != 0
    assert "cannot download ImageNet weights for test_resnet" in result.stderr
    assert "--backbone_weights none" in result.stderr
    assert "Traceback" not in result.stderr


def test_backbone_weights_load_from_a_local_safetensors_file(tmp_path):
    source = timm.create_model("test_resnet", num_classes=10)
    path = tmp_path / "backbone.safetensors"
    safetensors.torch.save_file(source.state_dict(), path)  # with its own classifier, as timm files have
    model = FashionResNetModel(FashionResNetConfig(architecture="test_resnet", heads={"a": ["x", "y"]}))
    assert train.load_backbone_weights(model, str(path)) == f"file:{path}"
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name


def test_imagenet_weights_come_from_the_hub_as_safetensors(tmp_path, monkeypatch):
    source = timm.create_model("test_resnet", num_classes=0)
    safetensors.torch.save_file(source.state_dict(), tmp_path / "model.safetensors")
    requests = []

    def hub(repo_id: str, filename: str) -> str:  # the Hub boundary
        requests.append((repo_id, filename))
        return str(tmp_path / filename)

    monkeypatch.setattr(train, "hf_hub_download", hub)
    model = FashionResNetModel(FashionResNetConfig(architecture="test_resnet", heads={"a": ["x", "y"]}))
    assert train.load_backbone_weights(model, "imagenet") == "hub:timm/test_resnet.r160_in1k"
    assert requests == [("timm/test_resnet.r160_in1k", "model.safetensors")]
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name


def test_auto_weights_fall_back_to_random_init_offline(capsys):
    model = FashionResNetModel(FashionResNetConfig(architecture="test_resnet", heads={"a": ["x", "y"]}))
    assert train.load_backbone_weights(model, "auto") == "random"
    assert "training from random initialisation" in capsys.readouterr().err


def test_backbone_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.torch.save_file(timm.create_model("resnet18", num_classes=0).state_dict(), path)
    model = FashionResNetModel(FashionResNetConfig(architecture="test_resnet", heads={"a": ["x", "y"]}))
    with pytest.raises(SystemExit, match="does not match test_resnet"):
        train.load_backbone_weights(model, str(path))


def test_augmentation_flips_and_shifts_with_white_fill():
    pixels = torch.arange(2 * 3 * 4 * 5, dtype=torch.uint8).view(2, 3, 4, 5)
    unchanged = train.augment(pixels, torch.tensor([False, False]), torch.tensor([[2, 2], [2, 2]]), max_shift=2)
    assert torch.equal(unchanged, pixels)
    flipped = train.augment(pixels, torch.tensor([True, False]), torch.tensor([[2, 2], [2, 2]]), max_shift=2)
    assert torch.equal(flipped[0], pixels[0].flip(-1)) and torch.equal(flipped[1], pixels[1])
    # shift (0, 0) of the padded image: the item moves down-right by 2, white comes in top-left.
    shifted = train.augment(pixels, torch.tensor([False, False]), torch.tensor([[0, 0], [2, 2]]), max_shift=2)
    assert torch.equal(shifted[0, :, 2:, 2:], pixels[0, :, :2, :3])
    assert (shifted[0, :, :2, :] == 255).all() and (shifted[0, :, :, :2] == 255).all()


def test_augmentations_are_drawn_for_the_global_batch():
    generator = torch.Generator().manual_seed(3)
    flips, shifts = train.draw_augmentations(8, 4, generator)
    assert flips.shape == (8,) and shifts.shape == (8, 2)
    assert shifts.min() >= 0 and shifts.max() <= 8
    again = train.draw_augmentations(8, 4, torch.Generator().manual_seed(3))
    assert torch.equal(flips, again[0]) and torch.equal(shifts, again[1])


def test_mixup_partners_are_neighbours_and_stay_within_any_even_split_of_the_batch():
    batch = torch.arange(8).view(8, 1).expand(8, 3)
    swapped = train.swap_pairs(batch)
    assert swapped[:, 0].tolist() == [1, 0, 3, 2, 5, 4, 7, 6]
    assert torch.equal(torch.cat([train.swap_pairs(chunk) for chunk in batch.chunk(2)]), swapped)  # 2 processes
    assert train.mixup_weight(0.0, seed=5) == 1.0
    weight = train.mixup_weight(0.4, seed=5)
    assert 0.0 < weight < 1.0 and weight == train.mixup_weight(0.4, seed=5) != train.mixup_weight(0.4, seed=6)


def test_mixup_changes_the_training_alike_on_one_and_two_processes(uninterrupted, tiny_dataset, tmp_path):
    # uninterrupted's arguments, whose training is bitwise reproducible on CPU: only the mixup differs.
    args = [*TINY, "--dataset", str(tiny_dataset), "--epochs", "3", "--checkpoint_every", "5", "--mixup_alpha", "0.4",
            "--cache_dir", str(uninterrupted / "cache")]
    launch(*args, "--output_dir", str(tmp_path / "one"))
    launch(*args, "--output_dir", str(tmp_path / "two"), processes=2)
    plain, one, two = (read_json(folder, "metrics.json") for folder in (uninterrupted, tmp_path / "one", tmp_path / "two"))
    assert [h["train_loss"] for h in one["history"]] != [h["train_loss"] for h in plain["history"]]
    # The same pairs and weights; as without mixup, only BatchNorm statistics are per process on CPU.
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.02)
    odd = launch(*args, "--batch_size", "15", "--output_dir", str(tmp_path / "odd"), check=False)
    assert odd.returncode != 0 and "--batch_size 15" in odd.stderr


def test_stochastic_depth_and_dropout_reach_the_model_a_run_trains():
    config = train.parse_config(["--architecture", "test_resnet", "--drop_path_rate", "0.1", "--drop_rate", "0.2"])
    model = train.build_model(config, {"season": ["Summer", "Winter"]})
    assert (model.config.drop_path_rate, model.config.drop_rate) == (0.1, 0.2)
    drop_path = [module.drop_prob for module in model.modules() if isinstance(module, timm.layers.DropPath)]
    assert drop_path[-1] == pytest.approx(0.1)  # rising over the blocks to the given rate


def test_head_metrics_by_hand():
    # True 0 0 1 1 2, predicted 0 1 1 1 0; class "d" has no example. F1: a 1/2, b 4/5, c 0; d is left out of
    # the macro average (it has no recall), so macro-F1 = (0.5 + 0.8 + 0) / 3.
    scores = evaluate.load(train.HEAD_METRICS).compute(predictions=[0, 1, 1, 1, 0], references=[0, 0, 1, 1, 2],
                                                       labels=["a", "b", "c", "d"])  # fmt: skip
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["macro_f1"] == pytest.approx(1.3 / 3)
    assert scores["per_class"] == {"a": {"accuracy": 0.5, "support": 2}, "b": {"accuracy": 1.0, "support": 2},
                                   "c": {"accuracy": 0.0, "support": 1}, "d": {"accuracy": None, "support": 0}}
    assert scores["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_class_weights_favour_rare_classes_and_average_one_per_example():
    labels = torch.tensor([[0], [0], [0], [0], [0], [0], [1], [1], [IGNORE_INDEX]])
    weights = train.class_weights(labels, {"head": ["common", "rare", "absent"]}, power=0.5)["head"]
    assert weights[1] > weights[0]
    assert float((weights[:2] * torch.tensor([6.0, 2.0])).sum() / 8) == pytest.approx(1.0)


def test_a_resumed_run_takes_the_flags_it_started_with_and_refuses_to_change_them(tmp_path, capsys):
    started = train.parse_config(["--preset", "h100", "--architecture", "test_resnet", "--epochs", "3",
                                  "--output_dir", str(tmp_path)])  # fmt: skip
    checkpoint = tmp_path / "checkpoints" / "checkpoint-00000005"
    checkpoint.mkdir(parents=True)
    flags = {name: value for name, value in asdict(started).items() if name not in train.RUN_CONTROL}
    (checkpoint / "progress.json").write_text(json.dumps({"flags": flags}))

    resumed = train.parse_config(["--output_dir", str(tmp_path), "--resume", "--keep_checkpoints", "4",
                                  "--architecture", "test_resnet"])  # fmt: skip
    assert asdict(resumed) == {**asdict(started), "resume": True, "keep_checkpoints": 4}
    with pytest.raises(SystemExit):
        train.parse_config(["--output_dir", str(tmp_path), "--resume", "--epochs", "2", "--lr", "0.1"])
    assert "leave out --epochs 2 (it started with 3), --lr 0.1 (it started with 0.003)" in capsys.readouterr().err


def test_a_half_written_checkpoint_is_never_resumed_from(tmp_path):
    (tmp_path / "checkpoint-00000005").mkdir()
    (tmp_path / ".partial-00000010").mkdir()  # a kill during save_state leaves this behind
    assert train.latest_checkpoint(tmp_path) == tmp_path / "checkpoint-00000005"


def test_raw_data_in_the_hub_schema_is_cleaned_then_trained_on(tmp_path):
    # A Parquet file shaped like `ashraq/fashion-product-images-small` (image + raw string columns), as
    # `load_dataset` of that Hub id gives it: train.py prepares it with data_scripts, then trains.
    sample = load_prepared(SAMPLE_DIR)["train"]
    as_strings = datasets.Features({**sample.features, **{h: datasets.Value("string") for h in data_scripts.HEADS}})
    raw = sample.map(lambda row: {h: sample.features[h].int2str(row[h]) for h in data_scripts.HEADS},
                     features=as_strings)
    raw.to_parquet(tmp_path / "raw.parquet")
    output = tmp_path / "out"
    launch(*TINY, "--dataset", str(tmp_path / "raw.parquet"), "--epochs", "1", "--output_dir", str(output),
           "--cache_dir", str(tmp_path / "cache"), processes=0)
    summary = read_json(output, "training.json")
    assert summary["train_examples"] > 0
    assert (tmp_path / "cache" / "prepared").is_dir()
    # The cache's preparation is summarised in the output folder, so the card names the file and its cleaning.
    assert read_json(output, "dataset_summary.json")["source_name"] == "raw"
    assert "- Dataset: `raw`, cleaned by this project's `data_scripts`" in (output / "README.md").read_text()


def test_gradient_accumulation_trains_like_the_larger_batch(uninterrupted, tiny_dataset, tmp_path):
    # 2 x 8 images per update against 16 at once: the same images per update (the sampler's order does not
    # depend on the batch size); BatchNorm statistics over 8 instead of 16 and the augmentations drawn per
    # micro-batch differ, hence a tolerance.
    launch("--architecture", "test_resnet", "--backbone_weights", "none", "--log_every", "2", "--batch_size", "8",
           "--gradient_accumulation_steps", "2", "--dataset", str(tiny_dataset), "--epochs", "3",
           "--output_dir", str(tmp_path), "--cache_dir", str(uninterrupted / "cache"))
    one, accumulated = read_json(uninterrupted, "metrics.json"), read_json(tmp_path, "metrics.json")
    for a, b in zip(one["history"], accumulated["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.03)
