"""How much of each head's label the catalogue's metadata decides, on cache/full (no image, no model): each
validation photo is given the most common label of the training photos that share its metadata (article type,
brand, year, product id block), falling back to its article type's most common label, then the head's. Brand:
the product name's words before its gender word (the whole name if it has none), as make_metadata_heads.py
has it. Run from the repository root:

    python results/cpu-quarter-resnet18-40epochs/metadata_probe.py
"""

import re

import pyarrow.parquet as pq

COLUMNS = ["id", "articleType", "baseColour", "season", "usage", "gender", "year", "productDisplayName"]
GENDER_WORD = re.compile(r"\b(?:Men|Women|Boys|Girls|Unisex|Kids)\b")
KEYS = [["articleType"], ["brand"], ["year"], ["listed"], ["articleType", "brand"], ["articleType", "year"],
        ["articleType", "listed"], ["articleType", "gender", "year"], ["articleType", "year", "brand"],
        ["articleType", "listed", "brand"]]


def read(split: str):
    frame = pq.read_table(f"cache/full/data/{split}-00000-of-00001.parquet", columns=COLUMNS).to_pandas()
    frame["brand"] = frame.productDisplayName.map(lambda n: (GENDER_WORD.split(n or "")[0].strip() or n).lower())
    frame["listed"] = frame.id // 2000
    return frame


def lookup_accuracy(train, valid, head: str, keys: list[str]) -> float:
    most_common = lambda column: column.value_counts().index[0]
    guess = valid.join(train.groupby(keys)[head].agg(most_common).rename("guess"), on=keys).guess
    if keys != ["articleType"] and head != "articleType":
        by_type = valid.join(train.groupby("articleType")[head].agg(most_common).rename("t"), on="articleType").t
        guess = guess.fillna(by_type)
    return float((guess.fillna(most_common(train[head])) == valid[head]).mean())


train, valid = read("train"), read("validation")
print(f"{len(train)} training / {len(valid)} validation photos; {train.brand.nunique()} brands, "
      f"{train.year.nunique()} years, {train.listed.nunique()} id blocks of 2,000 in training")
for head in ("articleType", "baseColour", "season", "usage"):
    print(f"\n{head}: the majority class alone {(valid[head] == train[head].value_counts().index[0]).mean():.3f}")
    for keys in KEYS:
        if head not in keys:
            print(f"  given {' + '.join(keys):<30} {lookup_accuracy(train, valid, head, keys):.3f}")
