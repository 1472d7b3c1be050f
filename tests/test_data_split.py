"""The stratified split and the stratified sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_scripts.split import stratified_sample, stratified_split


def test_split_is_stratified_seeded_and_survives_tiny_classes() -> None:
    labels = ["a"] * 50 + ["b"] * 10 + ["c"] * 2 + ["d"]
    is_validation = stratified_split(labels, 0.2, seed=0)
    per_class = pd.Series(is_validation).groupby(pd.Series(labels)).sum().to_dict()
    assert per_class == {"a": 10, "b": 2, "c": 1, "d": 0}  # a class of one row stays in train
    assert (stratified_split(labels, 0.2, seed=0) == is_validation).all()
    assert (stratified_split(labels, 0.2, seed=1) != is_validation).any()
    assert not stratified_split(labels, 0.0, seed=0).any()


def test_sample_covers_every_class_of_every_head() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "articleType": rng.choice(["Tshirts"] * 90 + ["Shirts"] * 9 + ["Ties"], 5000),
        "season": rng.choice(["Summer"] * 99 + ["Spring"], 5000),
    })  # fmt: skip
    chosen = stratified_sample(frame, 300, ["articleType", "season"], seed=0, min_per_class=5)
    sample = frame.iloc[chosen]
    assert len(set(chosen)) == len(chosen) == 300
    assert sample["articleType"].value_counts().min() >= 5 and sample["season"].value_counts().min() >= 5
    share = sample["articleType"].value_counts(normalize=True)
    assert 0.8 < share["Tshirts"] < 0.95  # the fill follows the first head's proportions
