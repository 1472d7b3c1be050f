"""Build the cleaned DatasetDict (train, validation) and write it with its card and report.

    python -m data_scripts.prepare SOURCE --output-dir DIR [--sample-size N] [--seed 0]
        [--validation-fraction 0.2] [--push-to-hub REPO_ID]

SOURCE: a Kaggle folder (styles.csv + images/ or images.tar), a Parquet file or folder in the Hub
schema, or a Hub dataset id such as `ashraq/fashion-product-images-small`.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
from datasets.exceptions import DatasetNotFoundError

from .card import PLOT_NAME, SPLITS, write_card
from .clean import Cleaned, clean
from .images import GRAYSCALE_MODES, inspect_images
from .read_raw import RawData, RawDataError, read_raw
from .rules import HEADS, CleaningRules
from .split import stratified_sample, stratified_split

REPO_ROOT = Path(__file__).resolve().parents[1]
# The bundled real sample: the offline default for training and the tests.
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
# The full raw data (read-only), beside the repository as in CI.
SHARED_DATA = REPO_ROOT / "../shared/data/fashion-product-images-small"
SHARD_BYTES = 256 * 2**20  # image bytes per Parquet shard
SAMPLE_MIN_PER_CLASS = 10


def build_features(class_names: dict[str, list[str]]) -> datasets.Features:
    """The output schema: one ClassLabel per head, the raw columns kept for traceability."""
    text = datasets.Value("string")
    return datasets.Features(
        {
            "id": datasets.Value("int64"),
            "image": datasets.Image(),
            **{head: datasets.ClassLabel(names=class_names[head]) for head in HEADS},
            "gender": text,
            "masterCategory": text,
            "subCategory": text,
            "year": datasets.Value("int64"),
            "productDisplayName": text,
        }
    )


def _to_dataset(frame: pd.DataFrame, images: list[bytes | None], features: datasets.Features) -> datasets.Dataset:
    """A Dataset of the kept rows; the image column holds the original JPEG bytes."""
    columns: dict[str, list[Any]] = {
        "image": [{"bytes": images[row], "path": f"{id_}.jpg"} for row, id_ in zip(frame["row"], frame["id"])],
        "year": [None if pd.isna(year) else int(year) for year in frame["year"]],
    }
    return datasets.Dataset.from_dict(
        {name: columns[name] if name in columns else frame[name].tolist() for name in features}, features=features
    )


def _summary(
    raw: RawData, cleaned: Cleaned, frames: dict[str, pd.DataFrame], rules: CleaningRules, **settings: Any
) -> dict[str, Any]:
    """Every figure of the card, as JSON."""
    report = cleaned.report
    kept = report[report["status"] == "kept"]
    return {
        "source": raw.source,
        "source_name": raw.name,
        **settings,
        "rows_read": len(report),
        "kept": len(kept),
        "dropped": int((report["status"] == "dropped").sum()),
        "recovered_lines": int(report["recovered"].sum()),
        "dropped_by_reason": dict(Counter(report.loc[report["status"] == "dropped", "reason"]).most_common()),
        "kept_flags": {
            "grayscale": int(kept["mode"].isin(GRAYSCALE_MODES).sum()),
            "not_60x80": int(((kept["width"] != 60) | (kept["height"] != 80)).sum()),
        },
        "images_without_row": raw.orphan_images,
        "rules": rules.to_dict(),
        "classes": cleaned.class_names,
        "classes_dropped": cleaned.dropped_classes,
        "repeated_images": cleaned.repeated_images,
        "splits": {
            split: {
                "rows": len(frame),
                "class_counts": {head: frame[head].value_counts().sort_index().to_dict() for head in HEADS},
            }
            for split, frame in frames.items()
        },
    }


def _write_parquet(dataset: datasets.Dataset, data_dir: Path, split: str, image_bytes: int) -> None:
    """Write `split-0000i-of-0000n.parquet` shards (the Hub's naming)."""
    n = max(1, math.ceil(image_bytes / SHARD_BYTES))
    for i in range(n):
        dataset.shard(n, i, contiguous=True).to_parquet(str(data_dir / f"{split}-{i:05d}-of-{n:05d}.parquet"))


def prepare(
    source: str | Path,
    output_dir: str | Path,
    rules: CleaningRules = CleaningRules(),
    sample_size: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
) -> datasets.DatasetDict:
    """Read, clean, (sample,) split; write Parquet shards, card, report and summary to `output_dir`."""
    output_dir = Path(output_dir)
    raw = read_raw(source)
    cleaned = clean(raw, inspect_images(raw.images, rules.decode_workers), rules)
    kept = cleaned.kept
    sample = None
    if sample_size is not None and sample_size < len(kept):
        kept = kept.iloc[stratified_sample(kept, sample_size, HEADS, seed, SAMPLE_MIN_PER_CLASS)]
        sample = {"rows": len(kept), "cleaned_rows": len(cleaned.kept), "min_per_class": SAMPLE_MIN_PER_CLASS}
    is_validation = stratified_split(kept["articleType"], validation_fraction, seed)
    frames = {"train": kept[~is_validation], "validation": kept[is_validation]}

    split_of_row = {row: split for split, frame in frames.items() for row in frame["row"]}
    report = cleaned.report
    report["split"] = [split_of_row.get(row, "not_in_sample" if status == "kept" else "")
                       for row, status in zip(report.index, report["status"])]  # fmt: skip

    features = build_features(cleaned.class_names)
    dataset = datasets.DatasetDict({split: _to_dataset(frame, raw.images, features) for split, frame in frames.items()})
    summary = _summary(raw, cleaned, frames, rules, seed=seed, validation_fraction=validation_fraction, sample=sample)

    data_dir = output_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob("*.parquet"):  # shards of an earlier run would be loaded too
        stale.unlink()
    report.to_csv(output_dir / "cleaning_report.csv", index=False)
    _write_json(output_dir / "cleaning_summary.json", summary)
    if frames["train"].empty:  # no dataset to write: it would not load, and its card would have no classes
        reasons = ", ".join(f"{reason} {count}" for reason, count in summary["dropped_by_reason"].items())
        raise RawDataError(f"no row of {source} is left for training after cleaning ({summary['rows_read']} rows "
                         f"read; dropped: {reasons or 'none'}): see {output_dir / 'cleaning_report.csv'}")
    for split in SPLITS:
        image_bytes = sum(len(raw.images[row]) for row in frames[split]["row"])
        _write_parquet(dataset[split], data_dir, split, image_bytes)
    write_card(output_dir, features, summary)
    return dataset


def _write_json(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def push_to_hub(dataset: datasets.DatasetDict, output_dir: Path, repo_id: str) -> None:
    """Upload the splits, then the card, report, summary and plot (our card replaces the generated one). The
    summary goes without local folders: it records the source as given, which may be the trainer's path."""
    from huggingface_hub import HfApi

    from model_card import without_local_folders_in

    dataset.push_to_hub(repo_id)
    with tempfile.TemporaryDirectory() as staged:
        for name in ("README.md", "cleaning_report.csv", PLOT_NAME):
            shutil.copy2(Path(output_dir) / name, staged)
        summary = json.loads((Path(output_dir) / "cleaning_summary.json").read_text(encoding="utf-8"))
        _write_json(Path(staged) / "cleaning_summary.json", without_local_folders_in(summary))
        HfApi().upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=staged,
                              commit_message="Dataset card and cleaning report")


def load_prepared(path_or_repo_id: str | Path | None = None) -> datasets.DatasetDict:
    """The prepared DatasetDict (train, validation) from an output folder or a Hub repo; by default the bundled
    sample, which a source checkout has (an installed package does not)."""
    if path_or_repo_id is None:
        if not SAMPLE_DIR.is_dir():
            raise FileNotFoundError(f"the bundled sample ({SAMPLE_DIR}) is in a source checkout of fashion-resnet50 "
                                    "only; pass a prepared folder or Hub dataset id")
        path_or_repo_id = SAMPLE_DIR
    return datasets.load_dataset(str(path_or_repo_id))


def embedded_image(cell: dict[str, Any]) -> bytes:
    """The encoded image of an undecoded `Image` cell of a prepared split, which `prepare` always embeds. A cell
    with only a path is refused: the path names a file or URL its author chose, and reading it would train on a
    private file of this machine, or send a request to a server of theirs."""
    if cell["bytes"] is None:
        raise ValueError(f"the image is a path only ({cell['path']!r}), not embedded bytes: prepare the data with "
                         "data_scripts.prepare, which embeds every image")
    return cell["bytes"]


def whole_number(minimum: int) -> Callable[[str], int]:
    """A command-line type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is less than {minimum}")
        return value

    return parse


def fraction(text: str) -> float:
    """A command-line fraction strictly between 0 and 1 (20 for 20 % would put 20 times the data in validation)."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (for 20 %, give 0.2)")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="Kaggle folder or tar folder, Parquet path, or Hub dataset id")
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--sample-size", type=whole_number(1), default=None, help="stratified sample of about N rows")
    parser.add_argument("--seed", type=whole_number(0), default=0)
    parser.add_argument("--validation-fraction", type=fraction, default=0.2, help="in (0, 1); default 0.2")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        dataset = prepare(
            args.source, args.output_dir, sample_size=args.sample_size, seed=args.seed,
            validation_fraction=args.validation_fraction,
        )  # fmt: skip
    except (RawDataError, DatasetNotFoundError, ConnectionError) as error:  # the data's fault, or no such Hub id
        parser.exit(1, f"error: {error}\n")  # each names the source
    seconds = time.perf_counter() - start
    summary = json.loads((args.output_dir / "cleaning_summary.json").read_text())
    print(f"{summary['rows_read']} rows read, {summary['kept']} kept, {summary['dropped']} dropped in {seconds:.1f} s")
    print(json.dumps(summary["dropped_by_reason"], indent=1))
    print({split: len(dataset[split]) for split in dataset}, "->", args.output_dir)
    if args.push_to_hub:
        push_to_hub(dataset, args.output_dir, args.push_to_hub)


if __name__ == "__main__":
    main()
