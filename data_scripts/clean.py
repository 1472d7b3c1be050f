"""Apply `CleaningRules` to the raw rows: every row ends kept or dropped, with its reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .images import ImageInfo
from .read_raw import RawData
from .rules import HEADS, RAW_COLUMNS, CleaningRules, Reason

OUT_OF_SCOPE = "article type not in the rules' list"
# drop(mask, reason, detail): give the rows of `mask` that are still in this reason.
Drop = Callable[..., None]
REPORT_COLUMNS = ["line", "id", "status", "reason", "detail", "recovered", "width", "height", "mode"]


@dataclass
class Cleaned:
    """The outcome of cleaning."""

    report: pd.DataFrame  # one row per input row, REPORT_COLUMNS (+ `split`, set later)
    kept: pd.DataFrame  # kept rows: `row` (index into RawData.images), `id`, the other columns
    class_names: dict[str, list[str]]  # per head, sorted
    dropped_classes: dict[str, dict[str, dict[str, Any]]]  # head -> class -> counts and why
    repeated_images: dict[str, Any]  # images on several lines, how many of them labelled differently and on which heads


def clean(raw: RawData, infos: list[ImageInfo | None], rules: CleaningRules) -> Cleaned:
    """Run the rules in the order of `Reason`; the first failing rule names the reason."""
    rows = raw.rows.reset_index(drop=True).copy()
    rows["reason"] = ""
    rows["detail"] = ""
    rows["width"] = [info.width if info else 0 for info in infos]
    rows["height"] = [info.height if info else 0 for info in infos]
    rows["mode"] = [info.mode if info else "" for info in infos]
    sha = pd.Series([info.sha256 if info else "" for info in infos])

    def drop(mask: pd.Series, reason: str, detail: pd.Series | str = "") -> None:
        mask = mask & (rows["reason"] == "")  # a row keeps the first reason it gets
        rows.loc[mask, "reason"] = reason
        rows.loc[mask, "detail"] = detail if isinstance(detail, str) else detail[mask]

    drop(rows["malformed"], Reason.MALFORMED_LINE, "fewer fields than the header")
    # ASCII digits, no leading zero: to_numeric would take "1e3" or "12.0", and int() "0123" or Arabic-Indic
    # digits, as the id of another row's image file.
    drop(~rows["id"].astype(str).str.fullmatch(r"[1-9][0-9]*"), Reason.INVALID_ID)
    drop(pd.Series([info is None for info in infos]), Reason.NO_IMAGE)
    drop(pd.Series([bool(info and info.error) for info in infos]), Reason.UNREADABLE_IMAGE,
         pd.Series([info.error if info else "" for info in infos]))  # fmt: skip
    if rules.drop_grayscale:
        drop(pd.Series([bool(info and info.grayscale) for info in infos]), Reason.GRAYSCALE_IMAGE)
    for head in HEADS:
        drop(rows[head].map(rules.is_placeholder), f"{Reason.MISSING_LABEL}:{head}", rows[head])
    drop(~rows["articleType"].isin(rules.article_types), Reason.ARTICLE_TYPE_OUT_OF_SCOPE)
    repeated_images = _drop_duplicates(rows, sha, drop)
    before_rare = rows[rows["reason"] == ""]
    rare = _drop_rare(rows, rules.min_examples, drop)

    # Nothing is dropped silently: a row is dropped exactly when a rule gave it a reason (tests/test_data_prepare.py
    # checks the report against styles.csv line by line).
    kept_mask = rows["reason"] == ""
    rows["status"] = kept_mask.map({True: "kept", False: "dropped"})

    kept = _kept_columns(rows[kept_mask], rules)
    class_names = {head: sorted(kept[head].unique()) for head in HEADS}
    dropped_classes = _dropped_classes(rows, before_rare, rare, class_names, rules)
    return Cleaned(rows[REPORT_COLUMNS].copy(), kept, class_names, dropped_classes, repeated_images)


def _drop_duplicates(rows: pd.DataFrame, sha: pd.Series, drop: Drop) -> dict[str, Any]:
    """Byte-identical images among the rows still in: one copy stays if all copies agree on
    the four heads, none if they conflict (no label can be trusted).

    Returns how many images are repeated, how many of them are labelled differently and on which heads: the
    same photo labelled twice measures the labels' own noise, which the model card reports."""
    alive = rows.index[rows["reason"] == ""]
    groups = rows.loc[alive].groupby(sha[alive], sort=False)
    duplicate = pd.Series(False, index=rows.index)
    conflicting = pd.Series(False, index=rows.index)
    detail = pd.Series("", index=rows.index)
    repeated = 0
    differing_per_image = []
    for _, group in groups:
        if len(group) < 2:
            continue
        repeated += 1
        lines = ",".join(map(str, group["line"]))
        if len(group[list(HEADS)].drop_duplicates()) == 1:
            duplicate[group.index[1:]] = True
            detail[group.index[1:]] = f"same image as line {group['line'].iloc[0]}"
        else:
            differing = [head for head in HEADS if group[head].nunique() > 1]
            differing_per_image.append(differing)
            conflicting[group.index] = True
            detail[group.index] = f"same image on lines {lines}; labels differ in {', '.join(differing)}"
    drop(duplicate, Reason.DUPLICATE, detail)
    drop(conflicting, Reason.DUPLICATE_CONFLICTING_LABELS, detail)
    by_head = Counter(head for differing in differing_per_image for head in differing)
    return {
        "images": repeated,
        "labelled_differently": len(differing_per_image),
        "differing_heads": {head: by_head[head] for head in HEADS if by_head[head]},
    }


def _drop_rare(rows: pd.DataFrame, min_examples: int, drop: Drop) -> dict[str, dict[str, int]]:
    """Drop rows whose class has fewer than `min_examples` kept rows, until no class is rare (dropping rows for
    one head can make a class of another head rare). Returns head -> class -> its rows when it was dropped."""
    dropped: dict[str, dict[str, int]] = {head: {} for head in HEADS}
    while True:
        alive = rows[rows["reason"] == ""]
        dropped_any = False
        for head in HEADS:
            counts = alive[head].value_counts()
            rare = counts.index[counts < min_examples]
            mask = rows[head].isin(rare) & (rows["reason"] == "")
            if mask.any():
                drop(mask, f"{Reason.RARE_CLASS}:{head}", rows[head].map(lambda c: f"{c}: {counts.get(c, 0)} rows"))
                dropped[head] |= {name: int(counts[name]) for name in rare}
                dropped_any = True
                break
        if not dropped_any:
            return dropped


def _kept_columns(kept: pd.DataFrame, rules: CleaningRules) -> pd.DataFrame:
    """The kept rows in output types: integer id and year, missing text as None."""
    out = pd.DataFrame({"row": kept.index, "line": kept["line"], "id": kept["id"].astype("int64")})
    for column in RAW_COLUMNS[1:]:
        if column == "year":
            year = pd.to_numeric(kept["year"], errors="coerce")
            out["year"] = year.where(year % 1 == 0).astype("Int64")  # "2011" -> 2011, junk -> null
        elif column in HEADS:
            out[column] = kept[column]
        else:
            out[column] = kept[column].where(~kept[column].map(rules.is_placeholder), None)
    return out.reset_index(drop=True)


def _dropped_classes(
    rows: pd.DataFrame, before_rare: pd.DataFrame, rare: dict[str, dict[str, int]], class_names: dict[str, list[str]],
    rules: CleaningRules,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every real label value that is not a class of the output, with its rows in the input, its rows left when
    it fell out, and why."""
    labelled = rows[~rows["reason"].str.startswith((Reason.MALFORMED_LINE, Reason.INVALID_ID))]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for head in HEADS:
        raw_counts = labelled[head][~labelled[head].map(rules.is_placeholder)].value_counts()
        left = before_rare[head].value_counts()
        out[head] = {}
        for name, n_raw in raw_counts.items():
            if name in class_names[head]:
                continue
            n_left = rare[head].get(name, int(left.get(name, 0)))
            if head == "articleType" and name not in rules.article_types:
                why = OUT_OF_SCOPE
            elif name not in rare[head]:
                why = ("no row left after the other rules" if n_left == 0
                       else "every row dropped with other heads' rare classes")
            elif n_left == left.get(name, 0):
                why = f"fewer than min_examples={rules.min_examples} rows after the other rules"
            else:  # rare only once the rows of other heads' rare classes were dropped
                why = f"fewer than min_examples={rules.min_examples} rows once other heads' rare classes were dropped"
            out[head][name] = {"raw_rows": int(n_raw), "rows_left": int(n_left), "why": why}
    return out
