"""End-to-end tests of data_scripts on a small real Kaggle-layout fixture that carries every defect.

tests/fixtures/data holds 18 real product images and a styles.csv whose lines carry the defects;
`kaggle_dir` adds the images that the defects need (a truncated JPEG, byte-identical copies).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet
import PIL.Image
import pytest

import data_scripts.rules
from data_scripts import HEADS, CleaningRules
from data_scripts.card import PLOT_NAME
from data_scripts.near_copies import same_photos
from data_scripts.prepare import main, prepare
from data_scripts.read_raw import parse_styles, read_kaggle, read_raw

FIXTURES = Path(__file__).parent / "fixtures" / "data"
RULES = CleaningRules(
    article_types=("Tshirts", "Shirts", "Casual Shoes", "Watches", "Handbags", "Innerwear Vests"), min_examples=1
)
# Every dropped row of the fixture and its reason; all other rows are kept.
EXPECTED_DROPS = {
    "4729": "missing_label:baseColour",  # "NA"
    "5891": "missing_label:season",  # empty
    "29928": "article_type_out_of_scope",  # Kurtas
    "26960": "duplicate_conflicting_labels",  # same bytes as 90004, another colour
    "90001": "no_image",
    "90002": "unreadable_image",  # truncated JPEG
    "90003": "duplicate",  # same bytes and labels as 15970, which is kept (earlier line)
    "90004": "duplicate_conflicting_labels",
    "90005": "malformed_line",  # fewer fields than the header
    "abc": "invalid_id",
    "1e3": "invalid_id",  # a number to pandas, not an id: images/1e3.jpg is not product 1000
}


@pytest.fixture(scope="module")
def kaggle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kaggle")
    (folder / "styles.csv").write_bytes((FIXTURES / "styles.csv").read_bytes())
    images = folder / "images"
    images.mkdir()
    for path in (FIXTURES / "images").glob("*.jpg"):
        (images / path.name).write_bytes(path.read_bytes())
    jpeg = (images / "53759.jpg").read_bytes()
    (images / "90002.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (images / "90003.jpg").write_bytes((images / "15970.jpg").read_bytes())
    (images / "90004.jpg").write_bytes((images / "26960.jpg").read_bytes())
    (images / "1e3.jpg").write_bytes((images / "15970.jpg").read_bytes())
    return folder


@pytest.fixture(scope="module")
def prepared(kaggle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datasets.DatasetDict]:
    output = tmp_path_factory.mktemp("prepared")
    return output, prepare(kaggle_dir, output, rules=RULES, seed=0, validation_fraction=0.25)


def test_a_carriage_return_inside_a_name_neither_splits_its_row_nor_shifts_line_numbers(tmp_path: Path) -> None:
    lines = (FIXTURES / "styles.csv").read_text().splitlines()
    lines[1] = lines[1] + " \rSpecial"  # the last column: the product name
    (tmp_path / "styles.csv").write_bytes(("\n".join(lines) + "\n").encode())
    (tmp_path / "images").mkdir()
    rows = read_kaggle(tmp_path).rows
    assert len(rows) == len(lines) - 1 and rows["line"].tolist() == list(range(2, len(lines) + 1))
    assert rows["productDisplayName"].iloc[0].endswith(" \rSpecial")


def test_near_copies_finds_a_photo_saved_again_not_a_similar_one() -> None:
    files = sorted((FIXTURES / "images").glob("*.jpg"))[:6]
    photos = [np.asarray(PIL.Image.open(path).convert("RGB"), dtype=np.float32) for path in files]
    buffer = io.BytesIO()
    PIL.Image.fromarray(photos[2].astype(np.uint8)).save(buffer, format="JPEG", quality=95)  # not byte-identical
    saved_again = np.asarray(PIL.Image.open(buffer).convert("RGB"), dtype=np.float32)
    brighter = np.clip(photos[4] + 3, 0, 255)  # as close in thumbnails, but not the same photo
    assert same_photos(photos[:5], [photos[5], saved_again, brighter]) == [(1, 2)]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_parse_styles_recovers_extra_commas() -> None:
    rows = parse_styles((FIXTURES / "styles.csv").read_text())
    recovered = rows[rows["recovered"]]
    assert recovered["id"].tolist() == ["1855"]
    assert recovered["productDisplayName"].item() == "Inkfruit Mens Chain Reaction, Grey, T-shirt"
    assert rows.loc[rows["malformed"], "id"].tolist() == ["90005"]
    assert rows["line"].tolist() == list(range(2, len(rows) + 2))


def test_blank_lines_are_no_rows_and_the_others_keep_their_line_numbers() -> None:
    header, *lines = (FIXTURES / "styles.csv").read_text().splitlines()
    text = "\r\n".join([header, lines[0], "", *lines[1:]]) + "\r\n\r\n \r\n"
    rows = parse_styles(text)
    assert rows["line"].tolist() == [2, *range(4, len(lines) + 3)]
    assert rows.loc[rows["malformed"], "id"].tolist() == ["90005"]  # the fixture's own; no blank line is one


def test_every_row_is_accounted_for(kaggle_dir: Path, prepared: tuple[Path, datasets.DatasetDict]) -> None:
    output, dataset = prepared
    report = datasets.load_dataset("csv", data_files=str(output / "cleaning_report.csv"), split="train").to_pandas()
    n_lines = len((FIXTURES / "styles.csv").read_text().splitlines()) - 1
    assert len(report) == n_lines and set(report["status"]) == {"kept", "dropped"}
    dropped = report[report["status"] == "dropped"]
    assert dict(zip(dropped["id"].astype(str), dropped["reason"])) == EXPECTED_DROPS
    kept = report[report["status"] == "kept"]
    assert sorted(kept["id"].astype(int)) == sorted(i for d in dataset.values() for i in d["id"])
    assert report.loc[report["id"].astype(str) == "1855", "recovered"].item()

    summary = json.loads((output / "cleaning_summary.json").read_text())
    assert summary["rows_read"] == n_lines == summary["kept"] + summary["dropped"]
    assert summary["source_name"] == kaggle_dir.name  # a local folder is named by its name only, for the model card
    assert sum(summary["dropped_by_reason"].values()) == summary["dropped"] == len(EXPECTED_DROPS)
    assert summary["recovered_lines"] == 1
    assert summary["kept_flags"] == {"grayscale": 1, "not_60x80": 1}
    # 15970 and 90003 agree, 26960 and 90004 differ in colour only: both are counted, one as labelled differently.
    assert summary["repeated_images"] == {"images": 2, "labelled_differently": 1, "differing_heads": {"baseColour": 1}}
    assert report.loc[report["id"].astype(str) == "90004", "detail"].item().endswith("labels differ in baseColour")


def test_output_schema_and_original_bytes(prepared: tuple[Path, datasets.DatasetDict], kaggle_dir: Path) -> None:
    _, dataset = prepared
    features = dataset["train"].features
    assert [features[head].names for head in HEADS] == [
        ["Casual Shoes", "Handbags", "Innerwear Vests", "Shirts", "Tshirts", "Watches"],
        ["Black", "Blue", "Brown", "Green", "Grey", "Navy Blue", "Purple", "White"],
        ["Fall", "Summer", "Winter"],
        ["Casual", "Ethnic", "Formal", "Sports"],
    ]
    assert list(features) == ["id", "image", *HEADS, "gender", "masterCategory", "subCategory", "year",
                              "productDisplayName"]  # fmt: skip
    assert features["id"].dtype == "int64" and features["year"].dtype == "int64"
    raw = dataset["train"].cast_column("image", datasets.Image(decode=False))
    for row in raw:  # the JPEG bytes are the original ones, not re-encoded
        assert row["image"]["bytes"] == (kaggle_dir / "images" / f"{row['id']}.jpg").read_bytes()


def test_splits_are_stratified_and_share_no_image(prepared: tuple[Path, datasets.DatasetDict]) -> None:
    _, dataset = prepared
    hashes = {
        split: {_sha(r["bytes"]) for r in d.cast_column("image", datasets.Image(decode=False))["image"]}
        for split, d in dataset.items()
    }
    assert not hashes["train"] & hashes["validation"]
    names = dataset["train"].features["articleType"].names
    validation = {names[i] for i in dataset["validation"]["articleType"]}
    # One validation row per class with at least two rows; Watches and Innerwear Vests have one each.
    assert validation == {"Tshirts", "Shirts", "Casual Shoes", "Handbags"}
    assert len(dataset["train"]) + len(dataset["validation"]) == 14


def test_load_dataset_round_trip(prepared: tuple[Path, datasets.DatasetDict], kaggle_dir: Path) -> None:
    output, dataset = prepared
    loaded = datasets.load_dataset(str(output))
    assert set(loaded) == {"train", "validation"}
    for split in dataset:
        assert loaded[split].features == dataset[split].features
        assert loaded[split]["id"] == dataset[split]["id"]
    card = (output / "README.md").read_text()
    assert "class_label" in card and "license: mit" in card and "data/train-*" in card
    # The card goes to the Hub as it is: it names the source folder, not where it lies on this machine.
    assert f"Read from: `{kaggle_dir.name}`" in card and str(kaggle_dir.parent) not in card
    assert (output / "class_distribution.png").stat().st_size > 0
    assert sorted(p.name for p in (output / "data").iterdir()) == [
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]


def test_rare_classes_are_dropped_and_reported(kaggle_dir: Path, tmp_path: Path) -> None:
    prepare(kaggle_dir, tmp_path, rules=CleaningRules(article_types=RULES.article_types, min_examples=2))
    summary = json.loads((tmp_path / "cleaning_summary.json").read_text())
    assert summary["kept"] + summary["dropped"] == summary["rows_read"]
    for head in HEADS:
        for name in summary["classes"][head]:
            assert sum(split["class_counts"][head].get(name, 0) for split in summary["splits"].values()) >= 2
    fell_out = summary["classes_dropped"]["articleType"]
    assert fell_out["Watches"]["why"].startswith("fewer than min_examples=2")
    assert "Kurtas" in fell_out and any(r.startswith("rare_class:") for r in summary["dropped_by_reason"])


def write_kaggle_folder(folder: Path, labels: list[tuple[str, str, str]]) -> None:
    """A Kaggle-layout folder with one row and one distinct photo per (articleType, baseColour, usage)."""
    lines = ["id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"]
    (folder / "images").mkdir(parents=True)
    for i, (article_type, colour, usage) in enumerate(labels, start=1):
        lines.append(f"{i},Men,Apparel,Topwear,{article_type},{colour},Summer,2012,{usage},Product {i}")
        PIL.Image.new("RGB", (60, 80), (20 * i, 0, 0)).save(folder / "images" / f"{i}.jpg")
    (folder / "styles.csv").write_text("\n".join(lines) + "\n")


def test_the_data_card_shows_class_names_as_they_are_and_a_small_imbalance_to_a_tenth(tmp_path: Path) -> None:
    # Before, `Pants | Track` split its table row, `*T*shirts` turned italic, and 4 : 3 read "1:1".
    labels = [("*T*shirts", "Blue", "Casual")] * 4 + [("Pants | Track", "Blue", "Casual")] * 3
    write_kaggle_folder(tmp_path / "raw", labels)
    prepare(tmp_path / "raw", tmp_path / "out", rules=CleaningRules(article_types=("*T*shirts", "Pants | Track"),
                                                                    min_examples=1))  # fmt: skip
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| 0 | \\*T\\*shirts |" in card and "| 1 | Pants \\| Track |" in card
    assert "Imbalance (largest : smallest class): 1.3:1." in card


def test_a_class_made_rare_by_another_heads_rare_class_is_reported_with_the_rows_it_had_then(tmp_path: Path) -> None:
    # Shirts has 1 row (rare at min_examples=2); dropping it leaves Red with 1 of its 2 rows: rare in turn.
    write_kaggle_folder(tmp_path / "raw", [("Tshirts", "Blue", "Casual")] * 3 + [("Tshirts", "Red", "Casual"),
                                                                                  ("Shirts", "Red", "Casual")])
    rules = CleaningRules(article_types=("Tshirts", "Shirts"), min_examples=2)
    prepare(tmp_path / "raw", tmp_path / "out", rules=rules)
    fell_out = json.loads((tmp_path / "out" / "cleaning_summary.json").read_text())["classes_dropped"]
    assert fell_out["articleType"]["Shirts"] == {
        "raw_rows": 1, "rows_left": 1, "why": "fewer than min_examples=2 rows after the other rules"}
    assert fell_out["baseColour"]["Red"] == {
        "raw_rows": 2, "rows_left": 1, "why": "fewer than min_examples=2 rows once other heads' rare classes were dropped"}
    report = pd.read_csv(tmp_path / "out" / "cleaning_report.csv", dtype=str, keep_default_na=False)
    assert report.loc[report["id"] == "4", "detail"].item() == "Red: 1 rows"  # the report says the same


def test_a_class_whose_rows_all_went_with_other_heads_rare_classes_says_so(tmp_path: Path) -> None:
    # Ties and Rust are rare at min_examples=3; Travel had 4 rows, enough, but all 4 were theirs.
    write_kaggle_folder(tmp_path / "raw", [("Ties", "Black", "Travel")] * 2 + [("Shirts", "Rust", "Travel")] * 2
                        + [("Shirts", "Black", "Casual")] * 6)
    prepare(tmp_path / "raw", tmp_path / "out", rules=CleaningRules(article_types=("Ties", "Shirts"), min_examples=3))
    fell_out = json.loads((tmp_path / "out" / "cleaning_summary.json").read_text())["classes_dropped"]
    assert fell_out["usage"]["Travel"] == {
        "raw_rows": 4, "rows_left": 4, "why": "every row dropped with other heads' rare classes"}


def test_tar_source_matches_folder(kaggle_dir: Path, prepared: tuple[Path, datasets.DatasetDict], tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    with tarfile.open(source / "images.tar", "w") as tar:
        tar.add(kaggle_dir / "images", arcname="images")
    prepare(source, tmp_path / "out", rules=RULES, validation_fraction=0.25)
    folder_output, _ = prepared
    assert (tmp_path / "out" / "cleaning_report.csv").read_text() == (folder_output / "cleaning_report.csv").read_text()


def test_an_images_folder_is_read_as_the_same_files_in_a_tar_are(kaggle_dir: Path, tmp_path: Path) -> None:
    # Before, the folder took `.jpg` only, in lower case, and left its other files unreported.
    folder = tmp_path / "folder"
    (folder / "images").mkdir(parents=True)
    (folder / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    for path in (kaggle_dir / "images").glob("*.jpg"):
        (folder / "images" / path.name.replace("15970.jpg", "15970.JPG")).write_bytes(path.read_bytes())
    (folder / "images" / "notes.txt").write_text("not a photo")
    tarred = tmp_path / "tarred"
    tarred.mkdir()
    (tarred / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    with tarfile.open(tarred / "images.tar", "w") as tar:
        tar.add(folder / "images", arcname="images")
    from_folder, from_tar = read_kaggle(folder), read_kaggle(tarred)
    assert from_folder.images == from_tar.images and from_folder.orphan_images == from_tar.orphan_images
    assert from_folder.images[from_folder.rows["id"].tolist().index("15970")] is not None
    assert "images/notes.txt" in from_folder.orphan_images


@pytest.mark.parametrize(("source", "message"), [("../no-such-data", "../no-such-data: no such file or folder"),
                                                 ("fashion/missing.parquet", "fashion/missing.parquet: no such file"),
                                                 ("someone/no-such-dataset", "someone/no-such-dataset")])  # fmt: skip
def test_a_source_that_cannot_be_read_is_named_in_one_line(source: str, message: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    # A path that is not there is not looked up on the Hub (whose answer named none); a Hub id is (offline here).
    with pytest.raises(SystemExit) as exited:
        main([source, "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.startswith("error: ") and message in err
    assert "Couldn't reach" in err if source.startswith("someone") else "Hub" not in err


@pytest.mark.parametrize(("flag", "given", "why"), [("--seed", "-1", "-1 is less than 0"),
                                                    ("--sample-size", "-5", "-5 is less than 1"),
                                                    ("--sample-size", "0", "0 is less than 1"),
                                                    ("--sample-size", "1.5", "'1.5' is not a whole number")])  # fmt: skip
def test_a_seed_or_sample_size_out_of_range_is_refused_naming_it(flag: str, given: str, why: str, kaggle_dir: Path,
                                                                 tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Before, a negative seed failed in numpy after the cleaning, naming no flag; a negative sample size was taken.
    with pytest.raises(SystemExit) as exited:
        main([str(kaggle_dir), "--output-dir", str(tmp_path / "out"), flag, given])
    assert exited.value.code == 2 and f"argument {flag}: {why}" in capsys.readouterr().err


def test_a_prepared_parquet_file_is_read_with_its_class_names(tmp_path: Path) -> None:
    # This package's own Parquet stores ClassLabel ids; read as a raw source, its rows carry the names.
    parquet = next((Path(__file__).parents[1] / "data" / "sample" / "data").glob("validation-*.parquet"))
    prepared = datasets.load_dataset("parquet", data_files=str(parquet), split="train")
    rows = read_raw(parquet).rows
    for head in HEADS:
        assert rows[head].tolist() == prepared.features[head].int2str(prepared[head]), head


def test_a_folder_with_neither_styles_csv_nor_parquet_is_refused_saying_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "images.tar").write_bytes(b"")
    with pytest.raises(ValueError, match="styles.csv.*Parquet"):
        read_raw(tmp_path)


@pytest.mark.parametrize("stored_as", ["bytes", "paths"])
def test_hub_schema_parquet_source(stored_as: str, kaggle_dir: Path, prepared: tuple[Path, datasets.DatasetDict],
                                   tmp_path: Path) -> None:  # fmt: skip
    """A Parquet file in the schema of ashraq/fashion-product-images-small: int ids, float years
    (null when missing), an Image column; rows without an image have a null image. The images may be stored
    as their bytes or, as `datasets` writes images loaded from files, as their files' paths only."""
    raw = read_kaggle(kaggle_dir)
    rows = raw.rows[raw.rows["id"].str.isdigit() & ~raw.rows["malformed"]]
    table = {column: rows[column].tolist() for column in ("gender", "masterCategory", "subCategory", "articleType",
                                                           "baseColour", "season", "usage", "productDisplayName")}  # fmt: skip
    table["id"] = rows["id"].astype(int).tolist()
    table["year"] = [float(y) if y else None for y in rows["year"]]
    table["image"] = [None if raw.images[i] is None else {"bytes": raw.images[i], "path": None} for i in rows.index]
    if stored_as == "paths":
        (tmp_path / "photos").mkdir()
        for i, image in enumerate(table["image"]):
            if image is not None:
                (tmp_path / "photos" / f"{i}.jpg").write_bytes(image["bytes"])
                table["image"][i] = {"bytes": None, "path": str(tmp_path / "photos" / f"{i}.jpg")}
    features = datasets.Features({c: datasets.Value("string") for c in table} | {
        "id": datasets.Value("int64"), "year": datasets.Value("float64"), "image": datasets.Image()})  # fmt: skip
    parquet = tmp_path / "hub.parquet"
    datasets.Dataset.from_dict(table, features=features).to_parquet(str(parquet))
    stored = datasets.Dataset.from_parquet(str(parquet)).cast_column("image", datasets.Image(decode=False))
    assert any(image is not None and image["bytes"] is None for image in stored["image"]) == (stored_as == "paths")

    dataset = prepare(parquet, tmp_path / "out", rules=RULES, validation_fraction=0.25)
    _, from_folder = prepared
    for split in dataset:
        assert dataset[split]["id"] == from_folder[split]["id"]
        assert dataset[split]["year"] == from_folder[split]["year"]
    assert json.loads((tmp_path / "out" / "cleaning_summary.json").read_text())["source_name"] == "hub"


def test_a_compressed_images_tar_is_refused_not_expanded(kaggle_dir: Path, tmp_path: Path) -> None:
    # A gzip'd member of 1.5 GiB took 7 MB on disk and 1.7 GB of memory; xz would expand further.
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    with tarfile.open(tmp_path / "raw" / "images.tar", "w:gz") as tar:
        tar.add(kaggle_dir / "images", arcname="images")
    with pytest.raises(ValueError, match=r"images.tar: unreadable tar"):
        read_raw(tmp_path / "raw")


def test_a_table_s_image_paths_are_read_from_its_own_folder_or_the_working_one_only(
    kaggle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, any path was read: a table could put a private photo of this machine into the prepared data.
    (tmp_path / "work" / "shots").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")  # datasets writes paths as given, often relative to where it ran
    photo = (kaggle_dir / "images" / "15970.jpg").read_bytes()
    (tmp_path / "table" / "photos").mkdir(parents=True)
    (tmp_path / "private.jpg").write_bytes(photo)
    (tmp_path / "table" / "photos" / "inside.jpg").write_bytes(photo)
    (tmp_path / "table" / "photos" / "link.jpg").symlink_to(tmp_path / "private.jpg")
    (tmp_path / "work" / "shots" / "here.jpg").write_bytes(photo)
    # Read: in the table's folder, and relative to the working one. Not: elsewhere, a link out, nor an absolute path
    # into the working folder (which may be the home folder).
    paths = [str(tmp_path / "table" / "photos" / "inside.jpg"), "photos/inside.jpg", "shots/here.jpg",
             str(tmp_path / "private.jpg"), "../private.jpg", "photos/link.jpg",
             str(tmp_path / "work" / "shots" / "here.jpg")]  # fmt: skip
    rows = {column: ["x"] * len(paths) for column in data_scripts.rules.RAW_COLUMNS}
    rows["image"] = [{"bytes": None, "path": path} for path in paths]  # as stored: datasets would check the files
    pyarrow.parquet.write_table(pyarrow.table(rows), tmp_path / "table" / "hub.parquet")
    images = read_raw(tmp_path / "table" / "hub.parquet").images
    assert images == [photo, photo, photo, None, None, None, None]


def test_a_kaggle_folder_without_images_is_refused_naming_what_is_missing(kaggle_dir: Path, tmp_path: Path) -> None:
    # Every row was dropped as no_image, and an empty dataset that does not load was written, exit code 0.
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    with pytest.raises(ValueError, match="raw: no images/ folder or images.tar beside styles.csv"):
        prepare(tmp_path / "raw", tmp_path / "out", rules=RULES)


def test_a_tar_without_an_images_folder_lists_its_files_and_nothing_left_is_refused(kaggle_dir: Path,
                                                                                     tmp_path: Path) -> None:
    # A tar made inside images/ holds ./<id>.jpg: no row finds its image, and the tar's files went unreported.
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    with tarfile.open(tmp_path / "raw" / "images.tar", "w") as tar:
        tar.add(kaggle_dir / "images", arcname=".")
    photos = sorted(f"./{p.name}" for p in (kaggle_dir / "images").glob("*.jpg"))
    assert sorted(read_raw(tmp_path / "raw").orphan_images) == photos
    with pytest.raises(ValueError, match=r"no row of .*raw is left for training after cleaning \(.*no_image \d+"):
        prepare(tmp_path / "raw", tmp_path / "out", rules=RULES)
    assert not list((tmp_path / "out" / "data").glob("*.parquet"))  # no dataset written that would not load
    summary = json.loads((tmp_path / "out" / "cleaning_summary.json").read_text())  # but every row accounted for
    assert summary["kept"] == 0 and summary["dropped"] == summary["rows_read"] > 0


def test_a_label_file_that_is_not_utf8_or_a_truncated_tar_is_named(kaggle_dir: Path, tmp_path: Path) -> None:
    lines = (kaggle_dir / "styles.csv").read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",", b",Caf\xe9 ", 1)  # one Latin-1 byte on line 4
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "styles.csv").write_bytes(b"\n".join(lines))
    (tmp_path / "raw" / "images").mkdir()
    with pytest.raises(ValueError, match=r"styles.csv line 4: not UTF-8"):
        read_raw(tmp_path / "raw")
    (tmp_path / "raw" / "styles.csv").write_bytes((kaggle_dir / "styles.csv").read_bytes())
    with tarfile.open(tmp_path / "whole.tar", "w") as tar:
        tar.add(kaggle_dir / "images", arcname="images")
    whole = (tmp_path / "whole.tar").read_bytes()
    (tmp_path / "raw" / "images.tar").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"images.tar: unreadable tar after member 'images/.*'"):
        read_raw(tmp_path / "raw")


@pytest.mark.parametrize("given", ["20", "0", "-0.2", "1"])
def test_a_validation_fraction_outside_0_1_is_refused_naming_it(given: str, kaggle_dir: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    # 20 (meaning 20 %) put 98 % of the rows in validation, silently; -0.2 none.
    with pytest.raises(SystemExit) as exited:
        main([str(kaggle_dir), "--output-dir", str(tmp_path / "out"), "--validation-fraction", given])
    assert exited.value.code == 2
    assert f"--validation-fraction: {given} is not between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_with_push_to_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Real rows that the default rules keep in part (the fixture's classes are too small for them): the sample's
    # training split, read as a raw source.
    source = next((Path(__file__).parents[1] / "data" / "sample" / "data").glob("train-*.parquet"))
    pushed, uploaded = [], {}

    def upload_folder(self, **kw):
        pushed.append(("card", kw["repo_id"]))
        uploaded.update({p.name: p.read_bytes() for p in Path(kw["folder_path"]).iterdir()})

    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", lambda self, repo_id: pushed.append(("data", repo_id)))
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", upload_folder)
    main([str(source), "--output-dir", str(tmp_path), "--seed", "1", "--push-to-hub", "me/fashion"])
    assert pushed == [("data", "me/fashion"), ("card", "me/fashion")]
    summary = json.loads((tmp_path / "cleaning_summary.json").read_text())
    assert summary["seed"] == 1 and summary["rules"] == CleaningRules().to_dict()
    # What goes to the Hub: the card, report and plot as written, the summary without the local folder.
    assert sorted(uploaded) == sorted(["README.md", "cleaning_report.csv", "cleaning_summary.json", PLOT_NAME])
    assert uploaded["cleaning_report.csv"] == (tmp_path / "cleaning_report.csv").read_bytes()
    published = json.loads(uploaded["cleaning_summary.json"])
    assert summary["kept"] > 0 and summary["source"] == str(source) and published["source"] == source.name
    assert {k: v for k, v in published.items() if k != "source"} == {k: v for k, v in summary.items() if k != "source"}


def test_the_command_line_runs_without_runpy_warning():
    # The package must not import the module `python -m` runs (runpy then warns that it may misbehave).
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "data_scripts.prepare", "--help"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--output-dir" in done.stdout, done.stderr
