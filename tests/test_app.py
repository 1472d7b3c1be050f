"""app.py: the Gradio demo in a real headless Chromium shows, per head, the pipeline's answer for an upload."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import app  # noqa: E402
from gradio.components.image import ImageData  # noqa: E402
from helpers_output import build_output_folder, fixture_paths, save_other_image_classifier  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
# The machine's network is closed: without these Chromium waits on sync, updates and QUIC probes.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory):
    return app.load_classifier(str(build_output_folder(tmp_path_factory.mktemp("trained"))))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo_url(classifier) -> Iterator[str]:
    demo = app.build_demo(classifier, "test model")
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, theme=app.THEME)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_predict_gives_each_head_its_top_scores_in_config_order(classifier) -> None:
    image = str(fixture_paths()[0])
    expected = classifier(image, top_k=app.TOP_K)
    shown = app.predict(classifier, image)
    assert [list(scores) for scores in shown] == [[p["label"] for p in expected[h]] for h in app.head_names(classifier)]
    assert app.predict(classifier, None) == [None] * len(app.head_names(classifier))


def shown_for_upload(classifier, path: Path) -> list[dict]:
    """What the demo shows, per head, for an upload of `path`: Gradio's own processing of the event."""
    demo = app.build_demo(classifier, "test model")
    upload = ImageData(path=str(path), orig_name=path.name).model_dump()
    # explicit_call: the file is not in Gradio's upload folder, so Gradio copies it into its cache first.
    return asyncio.run(demo.process_api(block_fn=next(iter(demo.fns.values())), inputs=[upload], explicit_call=True))[
        "data"]


def test_an_unreadable_upload_shows_why_instead_of_a_generic_failure(classifier, tmp_path: Path) -> None:
    upload = tmp_path / "notes.jpg"
    upload.write_text("not a photo")
    with pytest.raises(app.gr.Error, match="cannot read image '.*notes.jpg': cannot identify image file"):
        shown_for_upload(classifier, upload)


def test_any_failure_of_the_pipeline_shows_its_type_and_reason(classifier, monkeypatch, tmp_path: Path) -> None:
    # A model folder published with an older loader raised struct.error on some cameras' EXIF: Gradio showed "Error".
    def old_loader(*args, **kwargs):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(classifier.image_processor, "preprocess", old_loader)
    with pytest.raises(app.gr.Error, match="struct.error: unpack requires a buffer of 4 bytes"):
        shown_for_upload(classifier, fixture_paths()[0])


def test_a_model_that_does_not_load_is_named_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no-model-here"  # offline, a path that is no folder is tried as a Hub id and fails
    with pytest.raises(SystemExit) as exited:
        app.main(["--model", str(missing)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot load the model {missing}: " in err and "Traceback" not in err


def test_a_model_that_loads_but_is_not_a_fashion_attributes_one_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    other = save_other_image_classifier(tmp_path / "vit", monkeypatch)  # before, an AttributeError traceback
    with pytest.raises(SystemExit) as exited:
        app.main(["--model", str(other)])
    assert exited.value.code == 2
    assert f"cannot load the model {other}: ValueError: not a fashion-attributes model" in capsys.readouterr().err


def test_a_port_in_use_is_named_in_one_line(classifier, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(app, "load_classifier", lambda model: classifier)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:  # before, gradio's OSError traceback
            app.main(["--model", "the model", "--host", "127.0.0.1", "--port", str(port)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot serve the demo: Cannot find empty port in range: {port}-{port} (give another --port" in err
    assert "launch()" not in err


def test_an_upload_reaches_the_pipeline_as_it_is_so_transparency_stays_white(classifier, tmp_path: Path) -> None:
    # Gradio's Image, preprocessing, would hand over a copy converted to RGB whose transparent pixels are black.
    cutout = np.full((80, 60, 4), 0, np.uint8)
    cutout[20:60, 15:45] = (200, 30, 30, 255)  # an opaque red product on a transparent background
    path = tmp_path / "cutout.png"
    PIL.Image.fromarray(cutout).save(path)
    PIL.Image.open(path).convert("RGB").save(tmp_path / "on-black.png")

    def as_scores(shown: list[dict]) -> list[dict[str, float]]:
        return [{entry["label"]: entry["confidence"] for entry in head["confidences"]} for head in shown]

    assert as_scores(shown_for_upload(classifier, path)) == app.predict(classifier, str(path))
    assert as_scores(shown_for_upload(classifier, tmp_path / "on-black.png")) != app.predict(classifier, str(path))


def test_demo_in_a_headless_browser_shows_the_pipeline_answer(classifier, demo_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    image = fixture_paths()[2]
    expected = {head: answer[0]["label"] for head, answer in classifier(str(image)).items()}
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page()
            page.goto(demo_url, timeout=UI_TIMEOUT_MS)
            page.locator("input[type=file]").first.set_input_files(image)
            shown = {}
            for head, label in expected.items():
                value = page.locator(f"#label-{head} [data-testid=label-output-value]")
                expect(value).to_have_text(label, timeout=UI_TIMEOUT_MS)
                shown[head] = value.inner_text()
            page.screenshot(path=ARTIFACTS / "app.png", full_page=True)
        finally:
            browser.close()
    assert shown == expected
