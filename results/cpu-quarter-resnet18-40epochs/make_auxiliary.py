"""Proxy data with auxiliary rows: /tmp/quarter's train split (make_quarter.py) plus a quarter of the photos the
default cleaning drops as out of scope (article types beyond the 33), cleaned by the same rules with every
article type kept, their articleType unknown (-1, skipped by the loss) and their other labels mapped to
cache/full's classes (-1 where the class is not one of them). Validation: cache/full's, unchanged. Writes
/tmp/quarter-aux. Run from the repository root, after make_quarter.py:

    HF_HUB_OFFLINE=1 PYTHONPATH=. python results/cpu-quarter-resnet18-40epochs/make_auxiliary.py
"""

from pathlib import Path

import datasets

from data_scripts.prepare import prepare
from data_scripts.read_raw import read_raw
from data_scripts.rules import CleaningRules

RAW = "../shared/data/fashion-product-images-small"
raw = read_raw(RAW)
every_type = tuple(sorted({str(t).strip() for t in raw.rows["articleType"].dropna()}))
wide = prepare(RAW, "/tmp/s18/wide", CleaningRules(article_types=every_type))
full = datasets.load_dataset("cache/full")
quarter = datasets.load_dataset("/tmp/quarter")
in_full = set(full["train"]["id"]) | set(full["validation"]["id"])
aux = datasets.concatenate_datasets([wide["train"], wide["validation"]]).filter(lambda row: row["id"] not in in_full)
print("auxiliary rows:", len(aux))
features = full["train"].features
wide_features = aux.features


def relabel(row: dict) -> dict:
    row["articleType"] = -1
    for head in ("baseColour", "season", "usage"):
        name = wide_features[head].int2str(row[head])
        row[head] = features[head].str2int(name) if name in features[head].names else -1
    return row


aux = aux.map(relabel).cast(features)
aux = aux.shuffle(seed=0).select(range(len(aux) // 4))
for head in ("baseColour", "season", "usage"):
    print(head, "unknown:", sum(v == -1 for v in aux[head]))
train = datasets.concatenate_datasets([quarter["train"], aux]).shuffle(seed=0)
Path("/tmp/quarter-aux/data").mkdir(parents=True, exist_ok=True)
train.to_parquet("/tmp/quarter-aux/data/train-00000-of-00001.parquet")
full["validation"].to_parquet("/tmp/quarter-aux/data/validation-00000-of-00001.parquet")
print(datasets.load_dataset("/tmp/quarter-aux"))
