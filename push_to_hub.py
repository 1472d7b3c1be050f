"""Push a trained output folder to a Hub model repo, or a prepared dataset folder to a Hub dataset repo.

Before anything is sent, the folder is checked: no pickled files anywhere in it, no links among the files to
upload (their targets would go up), no Hub token in them, and the exact set of files
that would be uploaded loads in a fresh Python process (the model with `trust_remote_code=True` and without
this project's package, predicting a bundled product photo; the dataset with `datasets.load_dataset`). The
model card is regenerated for the repo id. Everything goes up in ONE commit, so a failed upload leaves the
repo as it was; the same commit deletes what an earlier upload wrote and this one replaces without overwriting
(a weight or Parquet shard, a plot; `REPLACED_MODEL_FILES`, `REPLACED_DATASET_FILES`). Files added to the repo by
other means (a handler.py, a model.fp16.safetensors) stay.

The token is resolved by huggingface_hub (HF_TOKEN, or the `hf auth login` cache) unless --token is given;
it is never printed.

  python push_to_hub.py outputs/fashion-resnet50 --repo-id you/fashion-resnet50 [--private] [--tag v1]
  python push_to_hub.py outputs/fashion-resnet50 --repo-id you/fashion-resnet50 --dry-run /tmp/upload
  python push_to_hub.py --dataset data/prepared --repo-id you/fashion-product-images-clean
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi

from data_scripts.card import PLOT_NAME
from model_card import EXAMPLE_IMAGE, without_local_folders_in, write_model_card

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# What a repo holds (docs/output_folder.md; data_scripts/README.md); anything else in the folder stays local:
# a benchmark's JSON beside the model, say, which names the local folders it read. A pattern matches at its own
# depth only: "*.py" is a top-level file, not checkpoints/x/code.py.
MODEL_FILES = ["*.safetensors", "model.safetensors.index.json", "config.json", "preprocessor_config.json",
               "metrics.json", "training.json", "dataset_summary.json", "*.py", "README.md", EXAMPLE_IMAGE.name,
               "images/*.png"]  # fmt: skip
DATASET_FILES = ["README.md", "data/*.parquet", "cleaning_summary.json", "cleaning_report.csv", PLOT_NAME]
# What an earlier upload held that a later one may replace under other names: left in place, a stale weight or
# Parquet shard would be loaded with the new ones, a plot of a renamed head kept. Only names this tool writes, so
# that files added by other means stay.
REPLACED_MODEL_FILES = ["model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json",
                        "dataset_summary.json", "images/*.png"]
REPLACED_DATASET_FILES = ["data/*.parquet"]
# What a training output folder must hold for its repo to load and its card to be written.
REQUIRED_MODEL_FILES = ["config.json", "preprocessor_config.json", "metrics.json", "training.json"]
# Records that may name the trainer's files (the command, the dataset's folder): published with absolute paths
# cut to their last part, as the card shows them.
RECORDS = ["training.json", "dataset_summary.json", "cleaning_summary.json"]
CHECK_TIMEOUT_S = 600
HUB_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")  # what a User Access Token looks like
TEXT_SUFFIXES = (".json", ".md", ".py", ".csv")

# `modeling` is blocked so that the check proves the folder's own code is enough, as it is on the Hub.
CHECK_MODEL = """
import sys
sys.modules["modeling"] = None
from transformers import pipeline
classifier = pipeline(model=sys.argv[1], trust_remote_code=True)
prediction = classifier(sys.argv[2])
missing = sorted(set(classifier.model.config.heads) - set(prediction))
if missing:
    sys.exit(f"no prediction for heads {missing}")
print(prediction)
"""
CHECK_DATASET = """
import sys
import datasets
print(datasets.load_dataset(sys.argv[1]))
"""


class PushError(Exception):
    """The folder is not fit to be pushed, or the push failed; the message says why."""


def refuse_pickles(folder: Path) -> None:
    """Pickled files can run code when loaded: refuse the folder if it holds any, before doing anything else."""
    pickled = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        raise PushError(
            f"{folder} holds pickled files, which are not uploaded: {', '.join(pickled)}. "
            "Weights must be safetensors; delete these files or move them out of the folder (training resume "
            "state such as checkpoints/ is not part of the model repo)."
        )


def matches(name: str, patterns: list[str]) -> bool:
    """`name` (a relative POSIX path) matches a pattern with as many folder levels."""
    return any(name.count("/") == p.count("/") and fnmatch.fnmatchcase(name, p) for p in patterns)


def links_to_upload(folder: Path, patterns: list[str]) -> list[str]:
    """The links in `folder` (files or folders, none followed) that are, or lead to, files matching `patterns`."""
    linked = []
    for root, folders, files in os.walk(folder):  # followlinks=False: a linked folder is listed, not entered
        for name in [*folders, *files]:
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            leads_to = any(pattern.startswith(f"{relative}/") for pattern in patterns)
            if path.is_symlink() and (matches(relative, patterns) or path.is_dir() and leads_to):
                linked.append(relative)
    return sorted(linked)


def stage(folder: Path, patterns: list[str], destination: Path) -> list[str]:
    """Copy the files of `folder` that match `patterns` into `destination`; returns their relative paths. A link
    among them is refused: what it points to, perhaps outside the folder (a key file, a private photo), would go up
    under its name."""
    linked = links_to_upload(folder, patterns)
    if linked:
        raise PushError(f"{folder} holds symbolic links among the files to upload: {', '.join(linked)}; copy the "
                        "files in, or remove the links")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    selected = [name for name in files if matches(name, patterns)]
    for name in selected:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, destination / name)
    return selected


def publish_records(folder: Path, staged: Path) -> None:
    """Rewrite the staged copies of `folder`'s `RECORDS` without local folders."""
    for name in RECORDS:
        path = staged / name
        if path.is_file():
            try:
                record = without_local_folders_in(json.loads(path.read_text(encoding="utf-8")))
            except ValueError as error:  # not JSON (a copy cut short), not UTF-8: named where the user can fix it
                raise PushError(f"{folder / name} cannot be read: {error}") from error
            path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def refuse_tokens(folder: Path, staged: Path, files: list[str]) -> None:
    """Refuse the push if a staged text file holds what looks like a Hub token (a command or record that carried
    one, a note in the code): published, it would be anyone's. Named in `folder`, where it can be removed: a record
    before the card written from it."""
    for name in sorted(filter(lambda name: name.endswith(TEXT_SUFFIXES), files), key=lambda name: name == "README.md"):
        if HUB_TOKEN.search((staged / name).read_text(encoding="utf-8", errors="replace")):
            raise PushError(f"{folder / name} holds what looks like a Hugging Face token (hf_...): remove it, and "
                            "revoke the token if it was ever published")


def check_in_fresh_process(code: str, *args: str) -> None:
    """Run `code` in a new interpreter, offline: what it loads can only come from the given paths."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    try:
        result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                                timeout=CHECK_TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired as error:
        raise PushError(f"loading the folder in a fresh process took over {CHECK_TIMEOUT_S} s; stopped") from error
    if result.returncode != 0:
        raise PushError(f"the folder does not load in a fresh process:\n{result.stderr[-3000:]}")


def prepare_model(folder: Path, repo_id: str, destination: Path) -> list[str]:
    """Check the output folder, regenerate its card for `repo_id` and stage the repo's files."""
    refuse_pickles(folder)
    missing = [name for name in REQUIRED_MODEL_FILES if not (folder / name).is_file()]
    if not any(folder.glob("*.safetensors")):
        missing.append("*.safetensors (the weights)")
    if missing:
        raise PushError(f"{folder} is not a training output folder (docs/output_folder.md): no {', '.join(missing)}")
    stage(folder, MODEL_FILES, destination)
    publish_records(folder, destination)
    try:
        write_model_card(destination, repo_id)  # into the staged copy: the trained folder is left as it is
    except ValueError as error:  # a damaged record, named where the user can fix it
        raise PushError(str(error).replace(str(destination), str(folder))) from error
    files = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file())
    refuse_tokens(folder, destination, files)
    check_in_fresh_process(CHECK_MODEL, str(destination), str(EXAMPLE_IMAGE))
    return files


def prepare_dataset(folder: Path, destination: Path) -> list[str]:
    """Check the prepared dataset folder (card present, loads with `datasets`) and stage the repo's files."""
    refuse_pickles(folder)
    if not (folder / "README.md").is_file():
        raise PushError(f"{folder} has no README.md dataset card (write it with python -m data_scripts.prepare)")
    files = stage(folder, DATASET_FILES, destination)
    publish_records(folder, destination)
    refuse_tokens(folder, destination, files)
    check_in_fresh_process(CHECK_DATASET, str(destination))
    return files


def upload(staged: Path, files: list[str], replaced: list[str], args: argparse.Namespace, repo_type: str) -> CommitInfo:
    """Create the repo (and branch) if needed and send every staged file in a single commit, which also deletes
    the repo's files that match `replaced` (what an earlier upload wrote) but are not among `files`."""
    api = HfApi(token=args.token)
    try:
        api.create_repo(args.repo_id, repo_type=repo_type, private=args.private or None, exist_ok=True)
        if args.revision:
            api.create_branch(args.repo_id, branch=args.revision, repo_type=repo_type, exist_ok=True)
        there = api.list_repo_files(args.repo_id, repo_type=repo_type, revision=args.revision)
    except Exception as error:  # HTTP, network, authentication and offline errors alike: nothing was sent
        raise PushError(f"could not create or reach {repo_type} repo {args.repo_id}, nothing was sent: {error}") from error
    stale = sorted(name for name in there if matches(name, replaced) and name not in files)
    if stale:
        print(f"deleting {len(stale)} files of an earlier upload that this one does not have: {', '.join(stale)}")
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=staged / name) for name in files]
    operations += [CommitOperationDelete(path_in_repo=name) for name in stale]
    try:
        commit = api.create_commit(args.repo_id, operations, commit_message=args.commit_message,
                                   repo_type=repo_type, revision=args.revision)  # fmt: skip
    except Exception as error:
        raise PushError(
            f"upload to {args.repo_id} failed, nothing was committed (all files go in one commit): {error}"
        ) from error
    if args.tag:
        try:
            api.create_tag(args.repo_id, tag=args.tag, revision=commit.oid, repo_type=repo_type)
        except Exception as error:
            raise PushError(f"uploaded to {args.repo_id} ({commit.commit_url}), but tagging it {args.tag!r} "
                            f"failed: {error}") from error  # fmt: skip
    return commit


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("output_dir", nargs="?", type=Path, help="training output folder (docs/output_folder.md)")
    source.add_argument("--dataset", type=Path, metavar="PREPARED_DIR",
                        help="push this prepared dataset folder to a dataset repo instead")  # fmt: skip
    parser.add_argument("--repo-id", required=True, help="Hub repo, e.g. you/fashion-resnet50")
    parser.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)")
    parser.add_argument("--revision", help="branch to commit to (created if missing; default: main)")
    parser.add_argument("--tag", help="tag the new commit")
    parser.add_argument("--commit-message", help="default: 'Upload <folder name>'")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the `hf auth login` cache)")
    parser.add_argument("--dry-run", type=Path, metavar="DIR",
                        help="write the exact folder that would be uploaded to DIR (new or empty) and send nothing")  # fmt: skip
    args = parser.parse_args(argv)
    folder = args.dataset or args.output_dir
    args.commit_message = args.commit_message or f"Upload {folder.resolve().name}"
    return args


def run(args: argparse.Namespace, staged: Path) -> None:
    folder = args.dataset or args.output_dir
    if not folder.is_dir():
        raise PushError(f"no such folder: {folder}")
    if args.dataset:
        files, replaced, repo_type = prepare_dataset(folder, staged), REPLACED_DATASET_FILES, "dataset"
    else:
        files, replaced, repo_type = prepare_model(folder, args.repo_id, staged), REPLACED_MODEL_FILES, "model"
    print(f"checked {folder}: {len(files)} files to upload")
    for name in files:
        print(f"  {name} ({(staged / name).stat().st_size} bytes)")
    if args.dry_run:
        print(f"dry run: the upload folder is {staged}; nothing was sent")
        return
    commit = upload(staged, files, replaced, args, repo_type)
    print(f"uploaded {len(files)} files to {args.repo_id} in one commit: {commit.commit_url}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.dry_run:
            if args.dry_run.exists() and not args.dry_run.is_dir():
                raise PushError(f"--dry-run {args.dry_run} is a file: give a folder to stage the upload in")
            if args.dry_run.exists() and any(args.dry_run.iterdir()):
                raise PushError(f"--dry-run folder {args.dry_run} is not empty")
            created = not args.dry_run.exists()
            try:
                args.dry_run.mkdir(parents=True, exist_ok=True)
            except OSError as error:  # a file where a parent folder should be, no permission, ...
                raise PushError(f"--dry-run {args.dry_run} cannot be made: {error.strerror}") from error
            try:
                run(args, args.dry_run)
            except PushError as error:
                if any(args.dry_run.iterdir()):  # staged, then refused: left to look at
                    raise PushError(f"{error}\n(what was staged is in {args.dry_run}: empty it to try again)") from error
                if created:
                    args.dry_run.rmdir()
                raise
        else:
            with tempfile.TemporaryDirectory(prefix="push_to_hub_") as staged:
                run(args, Path(staged))
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
