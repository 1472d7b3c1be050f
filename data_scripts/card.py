"""The dataset card (README.md with Hub YAML metadata) and the class-distribution plot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import datasets
import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
from datasets.info import DatasetInfosDict  # noqa: E402
from datasets.splits import SplitDict, SplitInfo  # noqa: E402
from datasets.utils.metadata import MetadataConfigs  # noqa: E402
from huggingface_hub import DatasetCardData  # noqa: E402

from .clean import OUT_OF_SCOPE  # noqa: E402
from .rules import HEADS  # noqa: E402

SPLITS = ("train", "validation")
PLOT_NAME = "class_distribution.png"


def plot_distribution(summary: dict[str, Any], path: Path) -> None:
    """One horizontal bar chart per head, train and validation side by side, log scale."""
    fig, axes = plt.subplots(2, 2, figsize=(16, 16))
    for ax, head in zip(axes.flat, HEADS):
        names = summary["classes"][head]
        for offset, split in zip((-0.2, 0.2), SPLITS):
            counts = [summary["splits"][split]["class_counts"][head].get(n, 0) for n in names]
            ax.barh([i + offset for i in range(len(names))], counts, height=0.4, label=split)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(left=0.8)  # bars start at the axis, so a class of 1 image stays visible
        ax.invert_yaxis()
        ax.set_title(f"{head} ({len(names)} classes)")
        ax.set_xlabel("images (log scale)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < bound:
            return name
    return "100K<n<1M"


def card_metadata(features: datasets.Features, summary: dict[str, Any]) -> DatasetCardData:
    """Hub YAML: license, size, configs (data_files per split) and dataset_info (features)."""
    splits = SplitDict()
    for split in SPLITS:
        splits.add(SplitInfo(split, num_examples=summary["splits"][split]["rows"]))
    data = DatasetCardData(
        license="mit",
        size_categories=_size_category(sum(s["rows"] for s in summary["splits"].values())),
        task_categories=["image-classification"],
        pretty_name="Fashion Product Images (small), cleaned for fashion-resnet50",
    )
    DatasetInfosDict({"default": datasets.DatasetInfo(features=features, splits=splits)}).to_dataset_card_data(data)
    data_files = [{"split": split, "path": f"data/{split}-*"} for split in SPLITS]
    MetadataConfigs({"default": {"data_files": data_files}}).to_dataset_card_data(data)
    return data


MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]|<>])")  # what CommonMark would read as markup in running text or a table


def markdown_text(text: str) -> str:
    """`text` as Markdown shows it as it is, in a table cell too: a label such as `Pants | Track` or `*T*shirts`
    would otherwise split its row into more cells than the header, or turn italic."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


def ratio_text(ratio: float) -> str:
    """A largest : smallest class ratio as the card writes it before ": 1": a tenth below 10 (4 : 3 is 1.3, not 1)."""
    return f"{ratio:.1f}" if round(ratio, 1) < 10 else f"{ratio:.0f}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _class_table(summary: dict[str, Any], head: str) -> str:
    counts = {split: summary["splits"][split]["class_counts"][head] for split in SPLITS}
    total = {n: sum(counts[s].get(n, 0) for s in SPLITS) for n in summary["classes"][head]}
    n_all = sum(total.values()) or 1
    rows = [[i, markdown_text(n), counts["train"].get(n, 0), counts["validation"].get(n, 0), f"{100 * t / n_all:.2f}%"]
            for i, (n, t) in enumerate(total.items())]  # fmt: skip
    smallest = min(total.values(), default=0)
    ratio = f"{ratio_text(max(total.values()) / smallest)}:1" if smallest else "n/a (a class has no image here)"
    table = _table(["label", "class", "train", "validation", "share"], rows)
    return f"{table}\n\nImbalance (largest : smallest class): {ratio}."


def write_card(output_dir: Path, features: datasets.Features, summary: dict[str, Any]) -> None:
    """Write `README.md` and the plot into `output_dir`."""
    plot_distribution(summary, output_dir / PLOT_NAME)
    rules = summary["rules"]
    reasons = _table(["reason", "rows"], [[r, n] for r, n in summary["dropped_by_reason"].items()])
    dropped_classes = [(h, v, c) for h, values in summary["classes_dropped"].items() for v, c in values.items()]
    out_of_scope = ", ".join(f"{v} ({c['raw_rows']})" for h, v, c in dropped_classes if c["why"] == OUT_OF_SCOPE)
    fell_out = _table(
        ["head", "value", "rows in input", "rows left when it fell out", "why"],
        [[h, v, c["raw_rows"], c["rows_left"], c["why"]]
         for h, v, c in dropped_classes if c["why"] != OUT_OF_SCOPE],  # fmt: skip
    )
    sample = summary["sample"]
    sample_text = (
        f"This is a stratified sample of {sample['rows']} rows of the cleaned data "
        f"({sample['cleaned_rows']} rows; at least {sample['min_per_class']} rows of each class of each head where "
        "there are that many, the rest in proportion to articleType). The class lists (ClassLabel names) are those "
        "of the full cleaned data, so a model trained on the sample has the real label set."
        if sample
        else "This is the full cleaned data."
    )
    heads = "\n\n".join(
        f"### {head} ({len(summary['classes'][head])} classes)\n\n{_class_table(summary, head)}" for head in HEADS
    )
    placeholders = ", ".join(f"`{p}`" if p else "(empty)" for p in rules["placeholders"])
    repeated = summary["repeated_images"]
    differing = ", ".join(f"{head} in {n}" for head, n in repeated["differing_heads"].items())
    repeated_text = (
        f"Of the {repeated['images']} images on several lines still in after rules 1-6, "
        f"{repeated['labelled_differently']} were labelled "
        f"differently{f' (on {differing})' if differing else ''}: a measure of the labels' own noise."
    )
    body = f"""
# Fashion Product Images (small), cleaned for fashion-resnet50

Product photos (about 60x80 px, original JPEG bytes, not re-encoded) with four labels, one per head of the
fashion-resnet50 model: `articleType`, `baseColour`, `season`, `usage`. {sample_text}

## Source and licence

*Fashion Product Images (Small)* by Param Aggarwal, published on Kaggle under the MIT licence (also on the Hub
as `ashraq/fashion-product-images-small`). Read from: `{summary['source_name']}`. Built by
`python -m data_scripts.prepare` (project fashion-resnet50) with seed {summary['seed']} and validation fraction
{summary['validation_fraction']}.

## Columns

`id` (product id, int64), `image` (Image, original bytes), `articleType`, `baseColour`, `season`, `usage`
(ClassLabel), and, for traceability, the other raw columns `gender`, `masterCategory`, `subCategory`, `year`
(int64, nullable), `productDisplayName`. `cleaning_report.csv` lists every input row (CSV line number, id) as
kept or dropped with its reason; `cleaning_summary.json` holds all the figures below.

## Cleaning rules

Defaults of `data_scripts.rules.CleaningRules`; a row is dropped by the first rule it fails:

1. `malformed_line`: a line with fewer fields than the header. Lines with *more* fields are recovered: the
   extra commas belong to `productDisplayName`, the last column ({summary['recovered_lines']} lines recovered).
2. `invalid_id`: the id is not a positive integer written without leading zeros (the form of the image file names).
3. `no_image`: there is no image for the id (in a table, an image cell with neither bytes nor the path of a file in
   the table's own folder).
4. `unreadable_image`: PIL cannot fully decode the bytes (truncated, corrupt).
   {"`grayscale_image`: grayscale images are dropped." if rules['drop_grayscale'] else "Grayscale images are kept."}
   Images that are not 60x80 are kept too (the model converts to RGB and resizes); the report gives each image's
   mode and size. Kept: {summary['kept_flags']['grayscale']} grayscale, {summary['kept_flags']['not_60x80']} not 60x80.
5. `missing_label:<head>`: a head label is empty or a placeholder ({placeholders}).
   In the other columns such values become null.
6. `article_type_out_of_scope`: the article type is not one of the {len(rules['article_types'])} of the taxonomy, the
   most frequent article types of apparel, footwear and accessories (traditional wear such as Kurtas, Sarees,
   Kurtis or Dupatta, personal care, free items, sporting goods and home are out of focus):
   {', '.join(rules['article_types'])}.
7. `duplicate` / `duplicate_conflicting_labels`: byte-identical images (sha256). If all copies have the same
   four head labels, the first line is kept and the others are dropped; if they disagree, all copies are dropped.
   So no byte-identical image is in both splits; copies of a photo saved as different files (re-encoded or
   resized) are not detected, and can be. {repeated_text}
8. `rare_class:<head>`: the row's class has fewer than {rules['min_examples']} rows left, too few to learn and
   to evaluate (the split, stratified by articleType, leaves an article type of {rules['min_examples']} rows at least {round(rules['min_examples'] * summary['validation_fraction'])} for
   validation; a class of another head gets about that share, by chance). The row is dropped rather than kept with a
   missing label, so that every row has a valid label for all four heads; repeated until no class is rare.

## Counts

Rows read: {summary['rows_read']}; kept: {summary['kept']}; dropped: {summary['dropped']}. Images with no row:
{len(summary['images_without_row'])}.

{reasons}

### Classes that fell out

Article types out of scope (rows in input): {out_of_scope or "none"}.

{fell_out}

## Splits

Split {1 - summary['validation_fraction']:.0%}/{summary['validation_fraction']:.0%}, seeded, stratified by
articleType (a class with one row stays in train). Rows: train {summary['splits']['train']['rows']},
validation {summary['splits']['validation']['rows']}.

![class distribution]({PLOT_NAME})

{heads}
"""
    card = f"---\n{card_metadata(features, summary).to_yaml()}\n---\n{body}"
    (output_dir / "README.md").write_text(card, encoding="utf-8")
