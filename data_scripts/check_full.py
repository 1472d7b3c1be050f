"""Check a preparation of the full raw data: python -m data_scripts.check_full [SOURCE] [--output-dir DIR].

Asserts that every line of styles.csv is accounted for, that the heads have the classes the card
says, that no byte-identical image is in both splits, and that `load_dataset` gives back the rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import datasets
import pandas as pd
from huggingface_hub import DatasetCard

from .clean import OUT_OF_SCOPE
from .prepare import SHARED_DATA, load_prepared, prepare
from .rules import HEADS


def check(source: Path, output: Path) -> None:
    """Prepare `source` (a Kaggle-layout folder) into `output` and assert the invariants."""
    dataset = prepare(source, output)
    summary = json.loads((output / "cleaning_summary.json").read_text())
    report = pd.read_csv(output / "cleaning_report.csv", keep_default_na=False)

    # Every line but blank ones (no row): counted independently of the parser.
    lines = (source / "styles.csv").read_bytes().split(b"\n")
    numbers = [number for number, line in enumerate(lines[1:], start=2) if line.strip()]
    n_lines = len(numbers)
    assert report["line"].tolist() == numbers, "a styles.csv line is missing from the report"
    assert summary["rows_read"] == n_lines == summary["kept"] + summary["dropped"]
    assert (report.loc[report["status"] == "dropped", "reason"] != "").all()
    print(f"rows read {n_lines}: kept {summary['kept']}, dropped {summary['dropped']}, "
          f"recovered lines {summary['recovered_lines']}")  # fmt: skip
    for reason, n in summary["dropped_by_reason"].items():
        print(f"  {reason}: {n}")
    repeated = summary["repeated_images"]
    print(f"images on several lines: {repeated['images']}, labelled differently: {repeated['labelled_differently']} "
          f"(differing heads: {repeated['differing_heads']})")  # fmt: skip

    # The classes of the card's YAML are those of the data and the summary.
    card = DatasetCard.load(output / "README.md").data.to_dict()
    yaml_names = {
        f["name"]: list(f["dtype"]["class_label"]["names"].values())
        for f in card["dataset_info"]["features"]
        if isinstance(f["dtype"], dict) and "class_label" in f["dtype"]
    }
    for head in HEADS:
        names = dataset["train"].features[head].names
        assert names == yaml_names[head] == summary["classes"][head]
        print(f"{head}: {len(names)} classes")
    dropped = [(h, v, c) for h, values in summary["classes_dropped"].items() for v, c in values.items()]
    out_of_scope = [c["raw_rows"] for _, _, c in dropped if c["why"] == OUT_OF_SCOPE]
    print(f"  fell out: {len(out_of_scope)} article types out of scope ({sum(out_of_scope)} rows in input)")
    for head, value, counts in dropped:
        if counts["why"] != OUT_OF_SCOPE:
            print(f"  fell out: {head} {value!r}: {counts}")

    # No byte-identical image in both splits, and the round trip through the files.
    loaded = load_prepared(output)
    hashes = {}
    for split, expected in dataset.items():
        assert len(loaded[split]) == len(expected) == summary["splits"][split]["rows"]
        assert loaded[split].features == expected.features
        images = loaded[split].cast_column("image", datasets.Image(decode=False))["image"]
        hashes[split] = {hashlib.sha256(image["bytes"]).hexdigest() for image in images}
        assert len(hashes[split]) == len(expected), f"byte-identical images inside {split}"
        print(f"{split}: {len(expected)} rows")
    assert not hashes["train"] & hashes["validation"], "an image is in both splits"
    print("OK: every row accounted for, classes as in the card, no byte-identical image in both splits, round trip intact")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", type=Path, default=SHARED_DATA)
    parser.add_argument("--output-dir", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        check(args.source, args.output_dir or Path(scratch))


if __name__ == "__main__":
    main()
