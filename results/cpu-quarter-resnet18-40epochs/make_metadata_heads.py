"""Proxy data with metadata labels: /tmp/quarter (make_quarter.py) with more ClassLabel columns, for auxiliary
heads trained beside the four (`metadata_heads.patch`). From each row's raw metadata, which the prepared data
keeps: `brand` (the product name's words before its gender word), `year`, and with --more, `gender` and
`listed` (the product id in blocks of 2,000, as ids were given out over time). A class needs 5 training rows
(brand) or 30 (the others); rarer values become -1, skipped by the loss. Writes the folder given. Run from the
repository root, after make_quarter.py:

    HF_HUB_OFFLINE=1 python results/cpu-quarter-resnet18-40epochs/make_metadata_heads.py /tmp/quarter-meta
    HF_HUB_OFFLINE=1 python results/cpu-quarter-resnet18-40epochs/make_metadata_heads.py /tmp/quarter-meta-more --more
"""

import re
import sys
from collections import Counter
from pathlib import Path

import datasets

GENDER_WORD = re.compile(r"\b(?:Men|Women|Boys|Girls|Unisex|Kids)\b")
MIN_ROWS = {"brand": 5, "year": 30, "gender": 30, "listed": 30}


def brand(name: str | None) -> str:
    words = GENDER_WORD.split(name or "")[0].strip() or (name or "").strip()
    return words.lower()


VALUES = {"brand": lambda row: brand(row["productDisplayName"]), "year": lambda row: str(row["year"]),
          "gender": lambda row: row["gender"], "listed": lambda row: str(row["id"] // 2000)}

output, more = Path(sys.argv[1]), "--more" in sys.argv[2:]
columns = ["brand", "year"] + (["gender", "listed"] if more else [])
quarter = datasets.load_dataset("/tmp/quarter")
features = quarter["train"].features.copy()
for column in columns:
    counts = Counter(VALUES[column](row) for row in quarter["train"].remove_columns("image"))
    names = sorted(value for value, count in counts.items() if count >= MIN_ROWS[column])
    features[column] = datasets.ClassLabel(names=names)
    print(f"{column}: {len(names)} classes, {sum(counts[n] for n in names)} of {quarter['train'].num_rows} rows")


def label(row: dict) -> dict:
    for column in columns:
        value = VALUES[column](row)
        row[column] = features[column].str2int(value) if value in features[column].names else -1
    return row


(output / "data").mkdir(parents=True, exist_ok=True)
for split in ("train", "validation"):
    labelled = quarter[split].map(label, features=features)
    labelled.to_parquet(output / "data" / f"{split}-00000-of-00001.parquet")
print(datasets.load_dataset(str(output)))
