"""The proxy's data: a quarter of cache/full's training split (stratified by articleType, seed 0), all of its
validation split, as a prepared folder. Run from the repository root: python results/cpu-quarter-resnet18-40epochs/make_quarter.py"""

from pathlib import Path

import datasets

Path("/tmp/quarter/data").mkdir(parents=True, exist_ok=True)
full = datasets.load_dataset("cache/full")
quarter = full["train"].train_test_split(train_size=0.25, seed=0, stratify_by_column="articleType")["train"]
quarter.to_parquet("/tmp/quarter/data/train-00000-of-00001.parquet")
full["validation"].to_parquet("/tmp/quarter/data/validation-00000-of-00001.parquet")
print(datasets.load_dataset("/tmp/quarter"))  # the features (ClassLabel names) travel in the Parquet metadata
