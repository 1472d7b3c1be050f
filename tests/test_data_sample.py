"""The bundled real sample in data/sample: the offline default for training and the tests."""

from __future__ import annotations

import hashlib
import json

import datasets
import pytest

import data_scripts.prepare
from data_scripts import HEADS
from data_scripts.prepare import SAMPLE_DIR, load_prepared


def test_bundled_sample_loads_with_the_full_label_set() -> None:
    summary = json.loads((SAMPLE_DIR / "cleaning_summary.json").read_text())
    dataset = load_prepared()
    assert {split: len(d) for split, d in dataset.items()} == {"train": 1600, "validation": 400}
    features = dataset["train"].features
    for head in HEADS:
        assert isinstance(features[head], datasets.ClassLabel)
        assert features[head].names == summary["classes"][head]  # the full cleaned data's classes
        assert dataset["validation"].features[head] == features[head]
    assert [features[head].num_classes for head in HEADS] == [33, 37, 4, 6]
    assert summary["sample"]["cleaned_rows"] == summary["kept"] == 31664
    assert summary["rows_read"] == 40002 == summary["kept"] + summary["dropped"]


def test_bundled_sample_is_small_and_has_no_image_in_both_splits() -> None:
    assert sum(p.stat().st_size for p in SAMPLE_DIR.rglob("*") if p.is_file()) < 8 * 2**20
    dataset = load_prepared().cast_column("image", datasets.Image(decode=False))
    hashes = {split: {hashlib.sha256(i["bytes"]).hexdigest() for i in d["image"]} for split, d in dataset.items()}
    assert len(hashes["train"]) == 1600 and len(hashes["validation"]) == 400
    assert not hashes["train"] & hashes["validation"]


def test_without_a_source_checkout_the_default_says_the_sample_is_not_there(tmp_path, monkeypatch) -> None:
    # An installed package has no data/ folder: before, datasets' "Couldn't find any data file at .../site-packages".
    monkeypatch.setattr(data_scripts.prepare, "SAMPLE_DIR", tmp_path / "data" / "sample")
    with pytest.raises(FileNotFoundError, match="is in a source checkout of fashion-resnet50 only; pass a prepared"):
        load_prepared()
