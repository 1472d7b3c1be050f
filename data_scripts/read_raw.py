"""Read the raw data into one table: a Kaggle folder or tar, or a dataset in the Hub schema."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import datasets
import huggingface_hub
import pandas as pd

from .rules import RAW_COLUMNS


class RawDataError(ValueError):
    """The raw data cannot be prepared as it is (no images, not UTF-8, a damaged tar, another schema, nothing
    left after cleaning); the message names the file or what is missing."""


@dataclass
class RawData:
    """Every input row, as text, with its image bytes (None when there is none)."""

    # Columns: `line` (CSV line number, header = 1; for a table source the 1-based row number),
    # RAW_COLUMNS as stripped text, `recovered` (extra commas joined back into the last column),
    # `malformed` (fewer fields than the header).
    rows: pd.DataFrame
    images: list[bytes | None]
    orphan_images: list[str]  # files no row refers to: images of no id, other files (reported, not rows)
    source: str
    name: str  # as a model card names the data: a Hub id as given, a local folder or file by its own name


def read_raw(source: str | Path) -> RawData:
    """Read a Kaggle folder (styles.csv + images/ or images.tar), a Parquet file or folder in
    the Hub schema, or a Hub dataset id."""
    path = Path(source)
    if (path / "styles.csv").is_file():
        return read_kaggle(path)
    if not path.exists() and looks_like_a_path(str(source)):  # not a Hub id: the Hub's answer would name none
        raise RawDataError(f"{source}: no such file or folder")
    if path.exists():
        files = [str(p) for p in sorted(path.rglob("*.parquet"))] if path.is_dir() else [str(path)]
        if not files:
            raise RawDataError(f"{source}: neither a Kaggle folder (styles.csv, with images/ or images.tar) nor a "
                             "folder of Parquet files")
        name = path.resolve().name if path.is_dir() else path.stem
        table = datasets.load_dataset("parquet", data_files=files, split="train")
        # Paths as `datasets` writes them: in the table's folder, or relative to the folder it ran in; not elsewhere.
        folders = list(dict.fromkeys(Path(file).parent for file in files))
        return read_hub_dataset(table, str(source), name, folders, relative_to_working_folder=True)
    hub = datasets.load_dataset(str(source))
    splits = hub.values() if isinstance(hub, datasets.DatasetDict) else [hub]
    # A Hub dataset of image files (imagefolder) has them downloaded into the caches.
    caches = [Path(datasets.config.HF_DATASETS_CACHE), Path(huggingface_hub.constants.HF_HUB_CACHE)]
    return read_hub_dataset(datasets.concatenate_datasets(list(splits)), str(source), str(source), caches)


def looks_like_a_path(source: str) -> bool:
    """Whether `source` names a file or folder, never a Hub dataset id."""
    return source.startswith((".", "/", "~")) or source.endswith(".parquet")


def parse_styles(text: str) -> pd.DataFrame:
    """Parse the Kaggle label file: plain comma-separated, no quoting (names contain `"`). A blank line is no
    row (a file may end in several); the others keep their line numbers."""
    lines = text.split("\n")
    header = tuple(lines[0].strip().split(","))
    if header != RAW_COLUMNS:
        raise RawDataError(f"unexpected styles.csv header {header}")
    width = len(RAW_COLUMNS)
    records = []
    for number, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        # productDisplayName is the last column: any extra comma belongs to it.
        fields = line.split(",", width - 1)
        malformed = len(fields) < width
        fields += [""] * (width - len(fields))
        records.append([number, *(f.strip() for f in fields), line.count(",") > width - 1, malformed])
    return pd.DataFrame(records, columns=["line", *RAW_COLUMNS, "recovered", "malformed"])


def read_kaggle(folder: Path) -> RawData:
    """Read `styles.csv` and the images, from `images/` or straight out of `images.tar`."""
    rows = parse_styles(_styles_text(folder / "styles.csv"))
    tar, images_dir = folder / "images.tar", folder / "images"
    if tar.is_file():
        by_id, elsewhere = _read_tar(tar)
    elif images_dir.is_dir():
        by_id, elsewhere = _read_images_folder(images_dir)
    else:  # every row would be dropped as `no_image`
        raise RawDataError(f"{folder}: no images/ folder or images.tar beside styles.csv")
    images = [by_id.get(i) for i in rows["id"]]
    orphans = [f"images/{i}.jpg" for i in sorted(set(by_id) - set(rows["id"]))]
    return RawData(rows, images, orphans + elsewhere, str(folder), folder.resolve().name)


def _styles_text(path: Path) -> str:
    """The label file's text, or a ValueError naming the line that is not UTF-8."""
    # Bytes, not read_text: its universal newlines would split a line at a lone "\r" inside a product name.
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise RawDataError(f"{path} line {line}: not UTF-8 ({error.reason} at byte {error.start})") from error


def is_image_member(name: PurePosixPath) -> bool:
    """Whether a file of the Kaggle layout, by its path, is a product photo: `images/<id>.jpg`, any case."""
    return name.parent.name == "images" and name.suffix.lower() == ".jpg"


def _read_images_folder(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """As `_read_tar`, from the extracted `images/` folder: the same files are taken, and the same reported."""
    by_id, elsewhere = {}, []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = PurePosixPath("images", path.relative_to(folder).as_posix())
        if is_image_member(name):
            by_id[name.stem] = path.read_bytes()
        else:
            elsewhere.append(str(name))
    return by_id, elsewhere


def _read_tar(path: Path) -> tuple[dict[str, bytes], list[str]]:
    """`images/<id>.jpg` members of a tar, by id, read in one sequential pass; and the names of its other files
    (reported with the images no row refers to: a tar made inside images/ has `./<id>.jpg`, not images/)."""
    by_id, elsewhere, member = {}, [], None
    try:
        with tarfile.open(path, "r:") as tar:  # uncompressed, as Kaggle's: a compressed one could expand past memory
            for member in tar:
                name = PurePosixPath(member.name)
                if member.isfile() and is_image_member(name):
                    by_id[name.stem] = tar.extractfile(member).read()
                elif member.isfile():
                    elsewhere.append(member.name)
    except (tarfile.TarError, EOFError) as error:  # a truncated or corrupt archive
        after = f" after member {member.name!r}" if member is not None else ""
        raise RawDataError(f"{path}: unreadable tar{after}: {error}") from error
    return by_id, elsewhere


def read_hub_dataset(dataset: datasets.Dataset, source: str, name: str, folders: list[Path],
                     relative_to_working_folder: bool = False) -> RawData:
    """Read a dataset shaped like `ashraq/fashion-product-images-small` (an `image` column plus
    the label columns), keeping the encoded image bytes; images stored as paths are read from `folders` only, and
    with `relative_to_working_folder`, a relative path from the working folder too (`_image_bytes`)."""
    missing = set(RAW_COLUMNS) - set(dataset.column_names)
    if missing or "image" not in dataset.column_names:
        raise RawDataError(f"{source}: not in the Hub schema (missing {sorted(missing) or ['image']})")
    dataset = dataset.cast_column("image", datasets.Image(decode=False))
    frame = dataset.select_columns([*RAW_COLUMNS, "image"]).to_pandas()
    # A prepared dataset (this package's Parquet, or one like it) stores ClassLabel ids: the rules read names.
    for column in RAW_COLUMNS:
        feature = dataset.features[column]
        if isinstance(feature, datasets.ClassLabel):
            frame[column] = [feature.names[i] if i >= 0 else None for i in frame[column]]  # -1: no label
    rows = frame[list(RAW_COLUMNS)].map(_text)
    rows.insert(0, "line", range(1, len(rows) + 1))
    rows["recovered"] = False
    rows["malformed"] = False
    images = [_image_bytes(image, folders, relative_to_working_folder) for image in frame["image"]]
    return RawData(rows, images, [], source, name)


def _image_bytes(image: object, folders: list[Path], relative_to_working_folder: bool) -> bytes | None:
    """An undecoded `Image` cell's bytes: its own, or its file's (`datasets` writes a column of images loaded
    from files with their paths only) where that file lies in one of `folders`, a relative path taken from each in
    turn (and from the working folder if asked); None otherwise. A path elsewhere (`/home/...`, `../..`, a link out
    of them) names a file the table's author chose on this machine: read, a private photo would be trained on and
    published with the data."""
    if not isinstance(image, dict):
        return None
    if image.get("bytes") is not None:
        return image["bytes"]
    if not image.get("path"):
        return None
    relative = relative_to_working_folder and not Path(image["path"]).is_absolute()
    for folder in map(Path.resolve, [*folders, *([Path.cwd()] if relative else [])]):
        path = (folder / image["path"]).resolve()  # an absolute path stays itself
        if path.is_relative_to(folder) and path.is_file():
            return path.read_bytes()
    return None


def _text(value: object) -> str:
    """A table cell as the text the CSV would hold (years come as floats when some are null)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
