"""Batch prediction with a fashion-resnet50 model: one output row per input image.

Inputs are files, folders (searched recursively for image files) or glob patterns ("photos/**/*.jpg"; a
pattern that names no suffix, such as "photos/*", keeps the image files it matches, as a folder does).
Images are read and predicted batch_size at a time, so any number of them fits in memory.

Output (stdout, or --output by extension):
  .jsonl  one JSON object per line: {"path": ..., "<head>": [{"label": ..., "score": ...}, ...top-k], ...}
  .csv    columns path, error, then per head: <head>, <head>_score (best), and for --top-k K > 1
          <head>_2, <head>_2_score ... <head>_K, <head>_K_score
An unreadable file (missing, empty, truncated, not an image) does not stop the run: its row has the path and
an "error" field instead of predictions, and it is named on stderr. Exit status: 0; 1 if any file failed (every
other row is written); 2 if nothing could run (bad arguments, an --output that cannot be written, a model that does
not load); 141, quietly, if the reader of stdout stopped reading (`| head`), as for any Unix filter. A file name
that is not UTF-8 is written as its own bytes.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import torch
from tqdm.auto import tqdm
from transformers import Pipeline, pipeline

DEFAULT_MODEL = "outputs/fashion-resnet50"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}

Row = dict[str, Any]


def images_in(folder: str) -> list[str]:
    """The image files under `folder`, recursively, sorted."""
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given; folders: their image files, recursively, sorted; otherwise a glob pattern, whose matches
    are expanded in turn (folders among them only if they hold images; files other than images only if the
    pattern names a suffix). A name that matches nothing, or a folder named that holds no image, is kept, so
    that it gets an error row rather than silently vanishing."""
    paths: list[str] = []
    for name in inputs:
        if os.path.isdir(name):
            paths.extend(images_in(name) or [name])
        elif os.path.exists(name) or not glob.has_magic(name):
            paths.append(name)
        else:
            matches: list[str] = []
            for path in sorted(glob.glob(name, recursive=True)):
                if os.path.isdir(path):
                    matches.extend(images_in(path))
                elif Path(name).suffix or Path(path).suffix.lower() in IMAGE_SUFFIXES:
                    matches.append(path)
            # Once each: "**" matches a folder and the images in it.
            paths.extend(dict.fromkeys(matches) or [name])
    return paths


def to_row(path: str, result: dict[str, Any]) -> Row:
    """The pipeline's answer for one image (predictions per head, or an "error") as an output row."""
    return {"path": path, **result}


class RowWriter(Protocol):
    def write(self, row: Row) -> None: ...


class JsonlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, row: Row) -> None:
        self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")


class CsvWriter:
    """Flat columns: the best label and score per head, then the lower ranks (see the module doc)."""

    def __init__(self, stream: IO[str], heads: Sequence[str], top_k: int) -> None:
        columns = ["path", "error"]
        for head in heads:
            for rank in range(1, top_k + 1):
                name = head if rank == 1 else f"{head}_{rank}"
                columns += [name, f"{name}_score"]
        self.heads = heads
        self.writer = csv.DictWriter(stream, fieldnames=columns)
        self.writer.writeheader()

    def write(self, row: Row) -> None:
        flat = {"path": row["path"], "error": row.get("error", "")}
        for head in self.heads:
            for rank, prediction in enumerate(row.get(head, []), start=1):
                name = head if rank == 1 else f"{head}_{rank}"
                flat[name], flat[f"{name}_score"] = prediction["label"], f"{prediction['score']:.6f}"
        self.writer.writerow(flat)


def batched(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Consecutive slices of `size` items (itertools.batched needs Python 3.12)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_classifier(model: str) -> Pipeline:
    """The model folder's or Hub repo's own pipeline, on the GPU when there is one. A model that loads but is not
    a fashion-attributes one (a Hub image classifier gets transformers' own pipeline) is a ValueError here, not an
    AttributeError or TypeError at its first answer."""
    classifier = pipeline(model=model, trust_remote_code=True, device=0 if torch.cuda.is_available() else "cpu")
    if not isinstance(getattr(classifier.model.config, "heads", None), dict):
        raise ValueError(f"not a fashion-attributes model: its config ({type(classifier.model.config).__name__}) "
                         "has no heads")
    return classifier


def predict_one(classifier: Pipeline, path: str, top_k: int) -> dict[str, Any]:
    """The answer for one image, or an "error" naming it if the model's code fails on it."""
    try:
        return classifier([path], top_k=top_k)[0]
    except Exception as error:  # noqa: BLE001 - one image's failure must not cost the others their rows
        return {"error": f"cannot predict {path!r}: {type(error).__name__}: {error}"}


def predict_rows(classifier: Pipeline, paths: Sequence[str], top_k: int, batch_size: int) -> Iterator[Row]:
    """Rows in input order; only batch_size images are in memory at a time. The pipeline answers an unreadable
    image with an "error" entry; should it raise instead (an image its code fails on otherwise), the batch is
    answered image by image, so that only that image gets an error row."""
    for chunk in batched(paths, batch_size):
        try:
            results = classifier(list(chunk), top_k=top_k, batch_size=batch_size)
        except Exception:  # noqa: BLE001
            results = [predict_one(classifier, path, top_k) for path in chunk]
        yield from (to_row(path, result) for path, result in zip(chunk, results))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--model", default=os.environ.get("MODEL_ID", DEFAULT_MODEL),
                        help=f"model folder or Hub id (default: $MODEL_ID or {DEFAULT_MODEL})")  # fmt: skip
    parser.add_argument("--output", type=Path, help="output file, .jsonl or .csv (default: JSON lines on stdout)")
    parser.add_argument("--top-k", type=int, default=1, help="labels per head, best first (default: 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    args = parser.parse_args(argv)
    if args.output is not None and args.output.suffix not in (".jsonl", ".csv"):
        parser.error(f"--output must end in .jsonl or .csv, got {args.output}")
    if args.top_k < 1 or args.batch_size < 1:
        parser.error("--top-k and --batch-size must be at least 1")
    if args.output is not None and not args.output.parent.is_dir():
        parser.error(f"--output {args.output}: there is no folder {args.output.parent}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The pipeline logs each unreadable image too; this command reports them itself, once, above the bar.
    logging.basicConfig(level=logging.ERROR)
    paths = expand_inputs(args.inputs)
    try:
        classifier = load_classifier(args.model)
    except Exception as error:  # no such folder or repo, not a model of this kind, corrupt files: nothing ran
        print(f"cannot load the model {args.model}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    # surrogateescape: a file name that is not UTF-8 (os.fsdecode gives it lone surrogates) is written as its own
    # bytes, instead of raising UnicodeEncodeError at its row and losing every row after it; on stdout too, which
    # is strict under a UTF-8 locale such as en_US.UTF-8 or with PYTHONIOENCODING=utf-8.
    if args.output is None and isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        stream = (open(args.output, "w", newline="", encoding="utf-8", errors="surrogateescape") if args.output
                  else sys.stdout)  # fmt: skip
    except OSError as error:  # a folder of that name, no permission: nothing ran
        print(f"cannot write --output {args.output}: {error.strerror or error}", file=sys.stderr)
        return 2
    failed = 0
    try:
        if args.output is not None and args.output.suffix == ".csv":
            writer: RowWriter = CsvWriter(stream, list(classifier.model.config.heads), args.top_k)
        else:
            writer = JsonlWriter(stream)
        with tqdm(total=len(paths), unit="image", file=sys.stderr) as progress:
            for row in predict_rows(classifier, paths, args.top_k, args.batch_size):
                writer.write(row)
                if "error" in row:
                    failed += 1
                    progress.write(f"error: {row['error']}", file=sys.stderr)
                progress.update()
    except BrokenPipeError:
        if stream is not sys.stdout:  # an --output pipe (a FIFO) whose reader went: not what `| head` does
            raise
        # Python flushes stdout again at exit, which would fail in turn: what is left goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    finally:
        if stream is not sys.stdout:
            stream.close()
    if failed:
        print(f"{failed} of {len(paths)} files could not be read", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
