"""Seeded, stratified train/validation split and the stratified sample."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def stratified_split(labels: Sequence[str], validation_fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of validation rows: each class gives round(fraction * n) of its rows, at
    least one and never all of them (a class of one row stays in train)."""
    labels = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    is_validation = np.zeros(len(labels), dtype=bool)
    for name in sorted(set(labels)):  # sorted: the draw must not depend on set order
        members = np.flatnonzero(labels == name)
        n = len(members)
        n_validation = min(n - 1, max(1, round(n * validation_fraction))) if validation_fraction > 0 else 0
        is_validation[rng.choice(members, size=n_validation, replace=False)] = True
    return is_validation


def stratified_sample(
    frame: pd.DataFrame, size: int, heads: Sequence[str], seed: int, min_per_class: int = 10
) -> np.ndarray:
    """Positions of about `size` rows: first `min_per_class` rows (or all it has) of every class
    of every head, then the rest proportionally to the first head's classes."""
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(frame), dtype=bool)
    order = rng.permutation(len(frame))
    for head in heads:
        labels = frame[head].to_numpy()[order]
        for name in sorted(set(labels)):
            members = order[labels == name]
            missing = min_per_class - chosen[members].sum()
            if missing > 0:
                chosen[members[~chosen[members]][:missing]] = True
    # Fill: rank the rows of each class randomly and take the lowest rank fractions first, so each
    # class of the first head gets its share of the remaining rows.
    strata = frame[heads[0]].to_numpy()
    rank = pd.Series(rng.random(len(frame))).groupby(strata).rank(method="first").to_numpy()
    class_size = pd.Series(strata).map(pd.Series(strata).value_counts()).to_numpy()
    key = np.where(chosen, -1.0, (rank - rng.random(len(frame))) / class_size)
    n_fill = max(0, size - int(chosen.sum()))
    chosen[np.argsort(key, kind="stable")[: int(chosen.sum()) + n_fill]] = True
    return np.flatnonzero(chosen)
