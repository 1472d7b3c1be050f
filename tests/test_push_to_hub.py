"""push_to_hub.py: checks before sending, the dry-run folder, one commit to a mocked Hub, the token kept secret."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import OfflineModeIsEnabled

import push_to_hub
from model_card import without_local_folders_in
from helpers_output import FIXTURE_LABELS, fixture_paths

SECRET = "hf_SECRETtokenThatMustNeverBePrinted"
HUB_METHODS = ("create_repo", "create_branch", "list_repo_files", "create_commit", "create_tag", "upload_folder",
               "upload_file")  # fmt: skip
MODEL_REPO_FILES = {
    "README.md", "config.json", "configuration_fashion_resnet.py", "dataset_summary.json", "example.jpg",
    "image_processing_fashion_resnet.py", "images/accuracy_curve.png", "images/class_distribution.png",
    "images/confusion_articleType.png", "images/confusion_baseColour.png", "images/confusion_season.png",
    "images/confusion_usage.png", "metrics.json", "model.safetensors", "modeling_fashion_resnet.py",
    "pipeline_fashion_attributes.py", "preprocessor_config.json", "training.json",
}  # fmt: skip


class RecordingHub:
    """Stands in for the Hub at the `HfApi` methods push_to_hub calls; records each call and the token used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: dict[str, Exception] | None = None,
                 there: tuple[str, ...] = (".gitattributes",)) -> None:  # fmt: skip
        self.there = list(there)  # the repo's files before the upload (a new repo has .gitattributes)
        self.calls: list[tuple[str, dict]] = []
        self.tokens: set[str | None] = set()
        self.fail = fail or {}  # method name -> the error it raises
        for name in HUB_METHODS:
            monkeypatch.setattr(HfApi, name, self._recorder(name))

    def _recorder(self, name: str):
        def method(api: HfApi, *args, **kwargs):
            self.tokens.add(api.token)
            self.calls.append((name, {"args": args, **kwargs}))
            if name == "create_commit":  # read now: the staged files are gone once push_to_hub returns
                self.committed = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in args[1]
                                  if isinstance(op, CommitOperationAdd)}  # fmt: skip
                self.deleted = {op.path_in_repo for op in args[1] if isinstance(op, CommitOperationDelete)}
            if name in self.fail:
                raise self.fail[name]
            if name == "list_repo_files":
                return self.there
            if name == "create_commit":
                return CommitInfo(commit_url="https://huggingface.co/me/fashion/commit/c0ffee", commit_message="",
                                  commit_description="", oid="c0ffee")  # fmt: skip

        return method

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def committed_paths(self) -> set[str]:
        return set(self.committed)


@pytest.fixture()
def no_check(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Skip the fresh-process check where a test is about something else (the dry-run test runs it for real)."""
    checks: list[tuple] = []
    monkeypatch.setattr(push_to_hub, "check_in_fresh_process", lambda *args: checks.append(args))
    return checks


def test_dry_run_writes_the_upload_folder_which_loads_in_a_fresh_process(
    output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    hub = RecordingHub(monkeypatch)
    dry = tmp_path / "upload"
    checkpoint = output_dir / "checkpoints" / "checkpoint-00000001"  # training resume state: not for the repo
    shutil.copytree(output_dir, checkpoint, ignore=shutil.ignore_patterns("checkpoints"))
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 0
    assert hub.calls == []
    assert {p.relative_to(dry).as_posix() for p in dry.rglob("*") if p.is_file()} == MODEL_REPO_FILES
    assert "nothing was sent" in capsys.readouterr().out
    image = fixture_paths()[0]
    check = (
        "import json, sys; sys.modules['modeling'] = None\n"
        "from transformers import pipeline\n"
        "print(json.dumps(pipeline(model=sys.argv[1], trust_remote_code=True)(sys.argv[2])))"
    )
    result = subprocess.run([sys.executable, "-c", check, str(dry), str(image)], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout.splitlines()[-1])
    heads = json.loads((dry / "config.json").read_text())["heads"]
    assert {head: [p["label"] in heads[head] for p in answers] for head, answers in prediction.items()} == {
        head: [True] for head in heads
    }
    assert 'pipeline(model="me/fashion"' in (dry / "README.md").read_text()


def test_a_folder_that_does_not_load_in_a_fresh_process_is_refused(
    output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    hub = RecordingHub(monkeypatch)
    code = output_dir / "modeling_fashion_resnet.py"
    code.write_text(code.read_text() + "\nraise ImportError('this copy of the model code is broken')\n")
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion"]) == 1
    assert hub.calls == []
    err = capsys.readouterr().err
    assert "does not load in a fresh process" in err and "this copy of the model code is broken" in err


def test_the_records_are_published_without_the_trainers_folders(
    output_dir: Path, tmp_path: Path, no_check: list[tuple]
) -> None:
    training = json.loads((output_dir / "training.json").read_text())
    training |= {"dataset": "/home/alice/prepared", "command": "accelerate launch /home/alice/repo/train.py"}
    (output_dir / "training.json").write_text(json.dumps(training))
    summary = json.loads((output_dir / "dataset_summary.json").read_text())
    (output_dir / "dataset_summary.json").write_text(json.dumps(summary | {"source": "/home/alice/raw"}))
    dry = tmp_path / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 0
    assert [p.name for p in dry.rglob("*") if p.is_file() and b"/home/alice" in p.read_bytes()] == []
    published = json.loads((dry / "training.json").read_text())
    assert (published["dataset"], published["command"]) == ("prepared", "accelerate launch train.py")
    assert json.loads((dry / "dataset_summary.json").read_text()) == summary | {"source": "raw"}
    assert json.loads((output_dir / "training.json").read_text()) == training  # the trained folder is left as it is


def test_other_json_files_beside_the_model_stay_local(output_dir: Path, tmp_path: Path, no_check: list[tuple]) -> None:
    # A benchmark's record kept beside the model names the local folders it read; before, every top-level
    # JSON went up as it was.
    for name in ("train_throughput.json", "robustness.json"):
        (output_dir / name).write_text(json.dumps({"run": "/home/alice/runs/fashion"}))
    dry = tmp_path / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 0
    staged = {p.name for p in dry.glob("*.json")}
    assert staged == {"config.json", "preprocessor_config.json", "metrics.json", "training.json",
                      "dataset_summary.json"}  # fmt: skip


def test_links_among_the_files_to_upload_are_refused_and_nothing_is_staged(
    output_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, no_check: list[tuple]
) -> None:
    # Before, each link's target went up under the link's name: a key file as notes.py, a private photo as a plot.
    secret = tmp_path / "secret.txt"
    secret.write_text("HF_TOKEN=hf_not_for_the_hub")
    (output_dir / "notes.py").symlink_to(secret)
    (tmp_path / "private.png").write_bytes(b"private")
    (output_dir / "images").mkdir()
    (output_dir / "images" / "loss.png").symlink_to(tmp_path / "private.png")
    dry = tmp_path / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert "holds symbolic links among the files to upload: images/loss.png, notes.py;" in capsys.readouterr().err
    assert not dry.exists() and no_check == []
    # A linked folder: its files were left out in silence (rglob does not enter it), or went up where it does.
    (output_dir / "notes.py").unlink()
    shutil.rmtree(output_dir / "images")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "loss.png").write_bytes(b"private")
    (output_dir / "images").symlink_to(tmp_path / "plots")
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert "holds symbolic links among the files to upload: images;" in capsys.readouterr().err


def test_a_token_in_a_record_is_refused_naming_the_file(output_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture, no_check: list[tuple]) -> None:
    training = json.loads((output_dir / "training.json").read_text())
    training["command"] += " --hub_token hf_" + "a1B2" * 9  # before, published as it was
    (output_dir / "training.json").write_text(json.dumps(training))
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(tmp_path / "up")]) == 1
    assert f"{output_dir / 'training.json'} holds what looks like a Hugging Face token" in capsys.readouterr().err
    assert no_check == []


def test_a_backbone_file_is_published_by_its_name_only(output_dir: Path, tmp_path: Path, no_check: list[tuple]) -> None:
    # train.py records `--backbone_weights /abs/w.safetensors` as backbone_init "file:/abs/w.safetensors".
    training = json.loads((output_dir / "training.json").read_text())
    (output_dir / "training.json").write_text(json.dumps(training | {"backbone_init": "file:/home/alice/w.safetensors"}))
    dry = tmp_path / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 0
    assert [p.name for p in dry.rglob("*") if p.is_file() and b"/home/alice" in p.read_bytes()] == []
    assert json.loads((dry / "training.json").read_text())["backbone_init"] == "file:w.safetensors"


def test_local_paths_with_spaces_are_published_by_their_last_part_only(
    output_dir: Path, tmp_path: Path, no_check: list[tuple]
) -> None:  # fmt: skip
    # A space ended the path before: `/home/alice smith/data` was published as `smith/data`, and the quoted word of
    # the recorded command (shlex.join quotes it) as `'smith/data'`.
    home, windows = "/home/alice smith/fashion data", "C:\\Users\\Alice Smith\\w.safetensors"
    command = shlex.join(["accelerate", "launch", "train.py", f"--dataset={home}/prepared", "--backbone_weights", windows])
    training = json.loads((output_dir / "training.json").read_text())
    (output_dir / "training.json").write_text(json.dumps(
        training | {"dataset": f"{home}/prepared", "backbone_init": f"file:{windows}", "command": command}))
    dry = tmp_path / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 0
    assert [p.name for p in dry.rglob("*") if p.is_file() and b"smith" in p.read_bytes().lower()] == []
    published = json.loads((dry / "training.json").read_text())
    assert (published["dataset"], published["backbone_init"]) == ("prepared", "file:w.safetensors")
    assert published["command"] == "accelerate launch train.py --dataset=prepared --backbone_weights w.safetensors"
    # A command that starts with a program's path is no one path: each of its paths is cut on its own.
    started = "/opt/venv/bin/accelerate launch train.py --dataset=/home/alice/data"
    assert without_local_folders_in(started) == "accelerate launch train.py --dataset=data"


@pytest.mark.parametrize("record", ["training.json", "metrics.json"])
def test_a_damaged_record_is_refused_naming_it_and_nothing_is_sent(
    record: str, output_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    no_check: list[tuple],
) -> None:  # fmt: skip
    text = (output_dir / record).read_text()
    hub = RecordingHub(monkeypatch)
    (output_dir / record).write_text(text[:200])  # a copy cut short
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion"]) == 1
    err = capsys.readouterr().err
    assert str(output_dir / record) in err and "Traceback" not in err  # the file to fix, not a staged copy
    (output_dir / record).write_text("{}")  # JSON, but not what train.py writes
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion"]) == 1
    err = capsys.readouterr().err
    assert f"{output_dir}: a record lacks" in err and "Traceback" not in err
    assert hub.calls == []


def test_upload_is_one_commit_of_the_repo_files_and_never_prints_the_token(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
    no_check: list[tuple],
) -> None:  # fmt: skip
    monkeypatch.setenv("HF_TOKEN", SECRET)
    training = json.loads((output_dir / "training.json").read_text())
    (output_dir / "training.json").write_text(json.dumps(training | {"dataset": "/home/alice/prepared"}))
    hub = RecordingHub(monkeypatch)
    argv = [str(output_dir), "--repo-id", "me/fashion", "--private", "--revision", "exp", "--tag", "v1",
            "--commit-message", "first model", "--token", SECRET]  # fmt: skip
    assert push_to_hub.main(argv) == 0
    assert len(no_check) == 1  # checked before sending
    assert hub.names() == ["create_repo", "create_branch", "list_repo_files", "create_commit", "create_tag"]
    assert hub.committed_paths() == MODEL_REPO_FILES
    # What is sent is the staged repo, not the trained folder: the card made for this repo id, the records
    # without the trainer's folders, the weights as trained.
    assert b'pipeline(model="me/fashion"' in hub.committed["README.md"]
    assert json.loads(hub.committed["training.json"])["dataset"] == "prepared"
    assert hub.committed["model.safetensors"] == (output_dir / "model.safetensors").read_bytes()
    calls = dict(hub.calls)
    assert calls["create_repo"]["private"] is True and calls["create_repo"]["exist_ok"] is True
    assert calls["create_branch"]["branch"] == "exp"
    assert calls["create_commit"]["revision"] == "exp" and calls["create_commit"]["commit_message"] == "first model"
    assert calls["create_tag"]["tag"] == "v1" and calls["create_tag"]["revision"] == "c0ffee"
    assert hub.tokens == {SECRET}
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err + caplog.text
    assert "in one commit" in captured.out


def test_token_defaults_to_what_huggingface_hub_resolves(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch, no_check: list[tuple]
) -> None:
    hub = RecordingHub(monkeypatch)
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion"]) == 0
    assert hub.tokens == {None}  # HfApi(token=None): HF_TOKEN or the login cache, resolved per request
    assert dict(hub.calls)["create_repo"]["private"] is None  # an existing repo keeps its visibility


def test_failed_upload_commits_nothing_and_says_so(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, no_check: list[tuple]
) -> None:
    hub = RecordingHub(monkeypatch, fail={"create_commit": OSError("connection reset while uploading model.safetensors")})
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--tag", "v1"]) == 1
    assert hub.names() == ["create_repo", "list_repo_files", "create_commit"]  # the one commit failed; no tag
    err = capsys.readouterr().err
    assert "nothing was committed" in err and "connection reset" in err


def test_unreachable_hub_and_failed_tag_are_clear_errors(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, no_check: list[tuple]
) -> None:
    offline = OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")
    hub = RecordingHub(monkeypatch, fail={"create_repo": offline})
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion"]) == 1
    assert hub.names() == ["create_repo"]
    assert "could not create or reach model repo me/fashion, nothing was sent" in capsys.readouterr().err
    hub = RecordingHub(monkeypatch, fail={"create_tag": OSError("403 Forbidden")})
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--tag", "v1"]) == 1
    assert hub.names() == ["create_repo", "list_repo_files", "create_commit", "create_tag"]
    err = capsys.readouterr().err
    assert "uploaded to me/fashion (https://huggingface.co/me/fashion/commit/c0ffee), but tagging it 'v1'" in err


def test_a_dry_run_refused_after_staging_leaves_the_staged_files_to_look_at(
    output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def refuse(*args: str) -> None:
        raise push_to_hub.PushError("the folder does not load in a fresh process: boom")

    monkeypatch.setattr(push_to_hub, "check_in_fresh_process", refuse)
    dry = tmp_path / "upload"
    dry.mkdir()  # an empty folder given by the user is used as it is
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert (dry / "config.json").is_file() and (dry / "README.md").is_file()
    assert f"what was staged is in {dry}: empty it to try again" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["a file", "a folder with a file"])
def test_a_dry_run_place_that_is_a_file_or_not_empty_is_refused_untouched(
    given: str, output_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, no_check: list[tuple]
) -> None:
    dry = tmp_path / "upload"
    if given == "a file":
        dry.write_text("notes")
        message = f"--dry-run {dry} is a file"
    else:
        dry.mkdir()
        (dry / "notes.txt").write_text("notes")
        message = f"--dry-run folder {dry} is not empty"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert message in capsys.readouterr().err
    assert no_check == []
    assert dry.read_text() == "notes" if given == "a file" else [p.name for p in dry.iterdir()] == ["notes.txt"]


def test_a_dry_run_place_under_a_file_is_refused_in_one_line(
    output_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, no_check: list[tuple]
) -> None:
    (tmp_path / "notes").write_text("notes")  # before, a NotADirectoryError traceback
    dry = tmp_path / "notes" / "up"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert f"--dry-run {dry} cannot be made: Not a directory" in capsys.readouterr().err
    assert no_check == [] and (tmp_path / "notes").read_text() == "notes"


@pytest.mark.parametrize(("missing", "named"), [("metrics.json", "metrics.json"), ("model.safetensors", "*.safetensors")])
def test_an_incomplete_folder_is_refused_naming_what_it_lacks(
    missing: str, named: str, output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    no_check: list[tuple],
) -> None:  # fmt: skip
    hub = RecordingHub(monkeypatch)
    (output_dir / missing).unlink()
    dry = tmp_path / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert hub.calls == [] and no_check == [] and not dry.exists()  # nothing half-staged left behind
    err = capsys.readouterr().err
    assert f"{output_dir} is not a training output folder" in err and f"no {named}" in err


@pytest.mark.parametrize("pickled", ["pytorch_model.bin", "checkpoint-3/optimizer.pt", "extra.pkl", "last.ckpt"])
def test_pickled_files_are_refused_before_anything_else(
    pickled: str, output_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    no_check: list[tuple],
) -> None:  # fmt: skip
    hub = RecordingHub(monkeypatch)
    (output_dir / pickled).parent.mkdir(exist_ok=True)
    (output_dir / pickled).write_bytes(b"\x80\x04K\x01.")
    dry = output_dir.parent / "upload"
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion", "--dry-run", str(dry)]) == 1
    assert hub.calls == [] and no_check == []
    assert not dry.exists()  # not even the card was staged
    assert pickled in capsys.readouterr().err


def _prepared_dataset(folder: Path) -> Path:
    """A prepared dataset folder as data_scripts writes it: Parquet splits, card, report files."""
    heads = list(next(iter(FIXTURE_LABELS.values())))
    rows = {"image": [str(p) for p in fixture_paths()]}
    rows |= {head: [FIXTURE_LABELS[p.name][head] for p in fixture_paths()] for head in heads}
    dataset = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    (folder / "data").mkdir(parents=True)
    for split in ("train", "validation"):
        dataset.to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# Fashion product images, cleaned\n")
    (folder / "cleaning_summary.json").write_text(json.dumps({"kept": len(fixture_paths())}))
    (folder / "class_distribution.png").write_bytes(fixture_paths()[0].read_bytes())
    return folder


def test_dataset_mode_checks_that_it_loads_and_pushes_to_a_dataset_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = _prepared_dataset(tmp_path / "prepared")
    (prepared / "notes.txt").write_text("not for the repo")
    (prepared / "near_copies.json").write_text('{"dataset": "/home/alice/prepared"}')  # a local probe's record
    hub = RecordingHub(monkeypatch)
    assert push_to_hub.main(["--dataset", str(prepared), "--repo-id", "me/fashion-data"]) == 0
    assert hub.names() == ["create_repo", "list_repo_files", "create_commit"]
    assert {call.get("repo_type") for _, call in hub.calls} == {"dataset"}
    assert hub.committed_paths() == {
        "README.md", "cleaning_summary.json", "class_distribution.png",
        "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet",
    }  # fmt: skip


def test_files_of_an_earlier_upload_that_this_one_lacks_are_deleted_in_its_commit(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    no_check: list[tuple],
) -> None:  # fmt: skip
    # Left there, an earlier upload's third shard was loaded with this upload's rows, and an old plot shown.
    prepared = _prepared_dataset(tmp_path / "prepared")
    # Added by other means: left alone, also where their names are of the kind an upload holds.
    by_hand = [".gitattributes", "LICENSE", "docs/notes.md", "handler.py", "model.fp16.safetensors",
               "eval_results.json", "stats.csv", "logo.png"]
    hub = RecordingHub(monkeypatch, there=(*by_hand, "README.md", "data/train-00000-of-00002.parquet",
                                           "data/train-00001-of-00002.parquet", "data/validation-00000-of-00001.parquet"))
    assert push_to_hub.main(["--dataset", str(prepared), "--repo-id", "me/fashion-data"]) == 0
    assert hub.deleted == {"data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"}
    assert "deleting 2 files of an earlier upload" in capsys.readouterr().out
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
    hub = RecordingHub(monkeypatch, there=(*by_hand, *shards, "dataset_summary.json", "images/old.png"))
    assert push_to_hub.main([str(output_dir), "--repo-id", "me/fashion"]) == 0
    assert hub.deleted == {*shards, "dataset_summary.json", "images/old.png"} - hub.committed_paths()
    assert "images/old.png" in hub.deleted and "model.safetensors" in hub.committed_paths()


def test_dataset_without_card_or_not_loading_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    prepared = _prepared_dataset(tmp_path / "prepared")
    hub = RecordingHub(monkeypatch)
    (prepared / "README.md").unlink()
    assert push_to_hub.main(["--dataset", str(prepared), "--repo-id", "me/fashion-data"]) == 1
    assert "no README.md" in capsys.readouterr().err
    (prepared / "README.md").write_text("# card\n")
    (prepared / "data" / "train-00000-of-00001.parquet").write_bytes(b"not parquet")
    assert push_to_hub.main(["--dataset", str(prepared), "--repo-id", "me/fashion-data"]) == 1
    assert "does not load in a fresh process" in capsys.readouterr().err
    (prepared / "cleaning_summary.json").write_text('{"kept": ')  # a copy cut short
    assert push_to_hub.main(["--dataset", str(prepared), "--repo-id", "me/fashion-data"]) == 1
    assert f"{prepared / 'cleaning_summary.json'} cannot be read" in capsys.readouterr().err
    assert hub.calls == []
