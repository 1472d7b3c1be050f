"""predict.py: one row per input file, unreadable files reported (row + stderr) without stopping the run."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import PIL.ExifTags
import PIL.Image
import pytest
from transformers import pipeline

import predict
from modeling import ImageLoadError, load_rgb_image
from helpers_output import build_output_folder, fixture_paths, save_other_image_classifier

TOP_K = 2


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_output_folder(tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[Path]]:
    """A folder tree of real product photos and three bad files: (folder, good, bad)."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "nested").mkdir()
    good = [Path(shutil.copy(p, folder / ("nested" if i % 2 else "") / p.name)) for i, p in enumerate(fixture_paths())]
    truncated, empty, text = folder / "truncated.jpg", folder / "nested" / "empty.jpg", folder / "notes.jpg"
    truncated.write_bytes(good[0].read_bytes()[:600])
    empty.write_bytes(b"")
    text.write_text("this is not a JPEG\n")
    (folder / "readme.txt").write_text("not an image name: skipped when walking a folder\n")
    return folder, sorted(good), [truncated, empty, text]


@pytest.fixture(scope="module")
def expected(model_dir: Path, photos: tuple[Path, list[Path], list[Path]]) -> dict[str, dict]:
    """The pipeline's own answers for the good photos."""
    classifier = pipeline(model=str(model_dir), trust_remote_code=True)
    return {str(p): classifier(str(p), top_k=TOP_K) for p in photos[1]}


def test_cli_on_a_folder_with_bad_files_writes_every_row_and_names_the_bad_ones(
    model_dir: Path, photos: tuple[Path, list[Path], list[Path]], expected: dict[str, dict]
) -> None:
    folder, good, bad = photos
    result = subprocess.run(
        [sys.executable, "predict.py", str(folder), "--model", str(model_dir), "--top-k", str(TOP_K), "--batch-size", "3"],
        capture_output=True, text=True, cwd=Path(predict.__file__).parent, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # some files failed
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(good) + len(bad)
    errors = {row["path"]: row["error"] for row in rows if "error" in row}
    assert set(errors) == {str(p) for p in bad}
    for path, message in errors.items():
        assert path in message
        assert f"error: {message}" in result.stderr
    predictions = {row.pop("path"): row for row in rows if "error" not in row}
    assert _rounded(predictions) == _rounded(expected)
    assert "100%" in result.stderr  # the progress bar went to stderr


def _rounded(rows: dict[str, dict]) -> dict[str, dict]:
    return {path: {h: [(p["label"], round(p["score"], 5)) for p in ps] for h, ps in row.items()} for path, row in rows.items()}


def test_csv_output_has_label_and_score_columns_per_head_and_rank(
    model_dir: Path, photos: tuple[Path, list[Path], list[Path]], expected: dict[str, dict], tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    folder, good, bad = photos
    output = tmp_path / "predictions.csv"
    inputs = [str(folder / "*.jpg"), str(folder / "nested"), str(tmp_path / "missing.jpg")]
    assert predict.main([*inputs, "--model", str(model_dir), "--output", str(output), "--top-k", str(TOP_K)]) == 1
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert [row["path"] for row in rows] == predict.expand_inputs(inputs)
    heads = list(next(iter(expected.values())))
    assert list(rows[0]) == ["path", "error"] + [
        column for head in heads for column in (head, f"{head}_score", f"{head}_2", f"{head}_2_score")
    ]
    for row in rows:
        if row["path"] in expected:
            answer = expected[row["path"]]
            assert row["error"] == ""
            assert [row[h] for h in heads] == [answer[h][0]["label"] for h in heads]
            assert [row[f"{h}_2"] for h in heads] == [answer[h][1]["label"] for h in heads]
            assert float(row[f"{heads[0]}_score"]) == pytest.approx(answer[heads[0]][0]["score"], abs=1e-6)
        else:
            assert row["path"] in row["error"] and not row[heads[0]]
    stderr = capsys.readouterr().err
    for path in [*map(str, bad), str(tmp_path / "missing.jpg")]:
        assert path in stderr


def test_a_run_that_cannot_start_exits_2_before_loading_anything(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    image = str(fixture_paths()[0])
    with pytest.raises(SystemExit) as exit_:
        predict.main([image, "--model", str(model_dir), "--output", str(tmp_path / "no-such-folder" / "out.csv")])
    assert exit_.value.code == 2 and f"there is no folder {tmp_path / 'no-such-folder'}" in capsys.readouterr().err
    assert predict.main([image, "--model", str(tmp_path / "no-such-model")]) == 2
    assert f"cannot load the model {tmp_path / 'no-such-model'}" in capsys.readouterr().err
    corrupt = Path(shutil.copytree(model_dir, tmp_path / "corrupt"))
    (corrupt / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes()[:1000])
    assert predict.main([image, "--model", str(corrupt)]) == 2
    assert f"cannot load the model {corrupt}" in capsys.readouterr().err


def test_inputs_are_streamed_batch_size_at_a_time() -> None:
    chunks: list[list[str]] = []

    def classifier(paths: list[str], top_k: int, batch_size: int) -> list[dict]:
        chunks.append(paths)
        return [{"head": [{"label": "x", "score": 1.0}]} for _ in paths]

    rows = list(predict.predict_rows(classifier, [f"{i}.jpg" for i in range(7)], top_k=1, batch_size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert [row["path"] for row in rows] == [f"{i}.jpg" for i in range(7)]


def test_expand_inputs_walks_folders_for_images_and_keeps_names_that_match_nothing(
    photos: tuple[Path, list[Path], list[Path]],
) -> None:
    folder, good, bad = photos
    walked = predict.expand_inputs([str(folder)])
    assert walked == sorted(map(str, [*good, *bad]))
    assert predict.expand_inputs([str(folder / "nested" / "*.jpg"), "nowhere/*.jpg", "gone.jpg"]) == sorted(
        str(p) for p in (folder / "nested").glob("*.jpg")
    ) + ["nowhere/*.jpg", "gone.jpg"]
    # A pattern that matches a folder gives the folder's images, not the folder as if it were a file, and each once.
    assert predict.expand_inputs([str(folder / "nest*")]) == sorted(str(p) for p in (folder / "nested").rglob("*.jpg"))
    # A pattern keeps the image files it matches, as a folder does, unless it names a suffix itself.
    assert predict.expand_inputs([str(folder / "**")]) == walked
    assert predict.expand_inputs([str(folder / "*.txt")]) == [str(folder / "readme.txt")]
    # A folder named that holds no image gets its error row; one that a pattern happens to match is passed over.
    empty = folder / "empty"
    empty.mkdir()
    try:
        assert predict.expand_inputs([str(empty)]) == [str(empty)]
        assert predict.expand_inputs([str(folder / "**")]) == walked
        with pytest.raises(ImageLoadError, match=f"'{empty}': a folder, not an image file"):
            load_rgb_image(str(empty))
    finally:
        empty.rmdir()


def _camera_photo_with_a_mistyped_exif_tag(photo: Path, path: Path) -> Path:
    """`photo` saved as a JPEG that a camera shot sideways (EXIF orientation 6), one of whose EXIF tags has the
    wrong type: TileWidth (a number) holding text. PIL reads it; rewriting that EXIF raises struct.error."""
    exif = PIL.Image.Exif()
    exif[PIL.ExifTags.Base.Orientation] = 6
    exif[PIL.ExifTags.Base.Model] = "Model X"
    PIL.Image.open(photo).convert("RGB").save(path, "JPEG", exif=exif.tobytes(), quality=95)
    data = path.read_bytes()
    model_entry = struct.pack(">HH", PIL.ExifTags.Base.Model, 2)  # tag, type ASCII (PIL writes big-endian EXIF)
    assert data.count(model_entry) == 1
    path.write_bytes(data.replace(model_entry, struct.pack(">HH", PIL.ExifTags.Base.TileWidth, 2)))
    return path


def test_a_photo_with_a_broken_exif_tag_is_answered_upright_and_costs_no_other_row(model_dir: Path, tmp_path: Path) -> None:
    good = fixture_paths()[:2]
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, photo in enumerate(good):
        shutil.copy(photo, folder / f"{i}.jpg")
    camera = _camera_photo_with_a_mistyped_exif_tag(good[0], folder / "0a_camera.jpg")
    upright = tmp_path / "upright.png"
    PIL.Image.open(camera).rotate(-90, expand=True).save(upright)  # orientation 6: turn 90 degrees clockwise
    output = tmp_path / "predictions.jsonl"
    assert predict.main([str(folder), "--model", str(model_dir), "--output", str(output), "--top-k", str(TOP_K)]) == 0
    rows = {row.pop("path"): row for row in map(json.loads, output.read_text().splitlines())}
    assert list(rows) == [str(folder / "0.jpg"), str(camera), str(folder / "1.jpg")]
    expected = pipeline(model=str(model_dir), trust_remote_code=True)(str(upright), top_k=TOP_K)
    assert _rounded({"camera": rows[str(camera)]}) == _rounded({"camera": expected})


def test_an_image_the_pipeline_raises_on_gets_an_error_row_and_the_others_their_answers() -> None:
    def classifier(paths: list[str], top_k: int, batch_size: int | None = None) -> list[dict]:
        if "bad.jpg" in paths:
            raise struct.error("required argument is not an integer")
        return [{"head": [{"label": p, "score": 1.0}]} for p in paths]

    paths = ["a.jpg", "bad.jpg", "c.jpg", "d.jpg"]
    rows = list(predict.predict_rows(classifier, paths, top_k=1, batch_size=3))
    assert [row["path"] for row in rows] == paths
    assert [row["head"][0]["label"] for row in rows if "error" not in row] == ["a.jpg", "c.jpg", "d.jpg"]
    assert rows[1]["error"] == "cannot predict 'bad.jpg': error: required argument is not an integer"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", "stdout"])
def test_a_file_name_that_is_not_utf8_gets_its_row_and_so_do_the_files_after_it(
    suffix: str, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    latin1 = folder / os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 name, as old archives and cameras write them
    shutil.copy(fixture_paths()[0], latin1)
    shutil.copy(fixture_paths()[1], folder / "z.jpg")
    if suffix == "stdout":  # strict, as under en_US.UTF-8 or PYTHONIOENCODING=utf-8
        stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
        monkeypatch.setattr(sys, "stdout", stdout)
        assert predict.main([str(folder), "--model", str(model_dir)]) == 0
        stdout.flush()
        data = stdout.buffer.getvalue()
    else:
        output = tmp_path / f"predictions{suffix}"
        assert predict.main([str(folder), "--model", str(model_dir), "--output", str(output)]) == 0
        data = output.read_bytes()
    assert os.fsencode(latin1) in data and os.fsencode(folder / "z.jpg") in data  # the names as the file system has them
    assert len(data.splitlines()) == 2 + (suffix == ".csv")


def test_an_output_that_cannot_be_written_exits_2_naming_it(model_dir: Path, tmp_path: Path, capsys) -> None:
    taken = tmp_path / "predictions.csv"
    taken.mkdir()  # a folder where the output file should go
    assert predict.main([str(fixture_paths()[0]), "--model", str(model_dir), "--output", str(taken)]) == 2
    assert f"cannot write --output {taken}" in capsys.readouterr().err


def test_a_model_that_loads_but_is_not_a_fashion_attributes_one_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Before, an AttributeError traceback (CSV) or a TypeError at the first row (JSON lines), exit 1.
    other = save_other_image_classifier(tmp_path / "vit", monkeypatch)
    for output in ([], ["--output", str(tmp_path / "out.csv")]):
        assert predict.main([str(fixture_paths()[0]), "--model", str(other), *output]) == 2
        assert (f"cannot load the model {other}: ValueError: not a fashion-attributes model: its config (ViTConfig) "
                "has no heads") in capsys.readouterr().err


def test_a_reader_that_stops_reading_stdout_ends_the_run_quietly(model_dir: Path) -> None:
    # `predict.py ... | head`: before, a BrokenPipeError traceback.
    inputs = [str(fixture_paths()[0])] * 300  # rows enough to fill the pipe's buffer several times over
    run = subprocess.Popen([sys.executable, "predict.py", *inputs, "--model", str(model_dir), "--batch-size", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(predict.__file__).parent,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert json.loads(run.stdout.readline())["path"] == inputs[0]
    run.stdout.close()
    stderr = run.communicate(timeout=300)[1].decode()
    assert run.returncode == 141 and "Traceback" not in stderr and "Error" not in stderr
