"""The fashion-attributes pipeline: output format, top_k, batching, unreadable inputs."""

from __future__ import annotations

import copy
import gc
import re
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch
from conftest import BAD_KINDS, ODD_KINDS, TINY_HEADS, make_tiny_model, write_bad_file, write_odd_image

import modeling
from modeling import FashionAttributesPipeline, ImageLoadError, load_rgb_image


def assert_same_predictions(actual, expected, atol=1e-5):
    assert list(actual) == list(expected)
    for name in expected:
        assert [entry["label"] for entry in actual[name]] == [entry["label"] for entry in expected[name]], name
        for got, want in zip(actual[name], expected[name]):
            assert got["score"] == pytest.approx(want["score"], abs=atol), name


def test_pipeline_task_is_registered(shared_pipeline):
    assert isinstance(shared_pipeline, FashionAttributesPipeline)


def test_single_image_result_has_exactly_the_config_heads(shared_pipeline, rgb_image_path):
    result = shared_pipeline(str(rgb_image_path))
    assert isinstance(result, dict)
    assert list(result) == list(TINY_HEADS)  # exactly the heads, in config order
    for name, entries in result.items():
        assert len(entries) == 1  # default top_k=1
        assert set(entries[0]) == {"label", "score"}
        assert entries[0]["label"] in TINY_HEADS[name]
        assert isinstance(entries[0]["score"], float) and 0 < entries[0]["score"] <= 1


def test_scores_and_labels_come_from_model_and_config(shared_pipeline, shared_model, shared_processor, image_paths):
    with torch.no_grad():
        logits = shared_model(**shared_processor(image_paths)).logits
    for index, path in enumerate(image_paths):
        result = shared_pipeline(path, top_k=100)
        for name, labels in TINY_HEADS.items():
            probabilities = logits[name][index].softmax(-1)
            assert len(result[name]) == len(labels)  # top_k larger than the head: every label once
            assert {entry["label"]: entry["score"] for entry in result[name]} == pytest.approx(
                {label: probabilities[i].item() for i, label in enumerate(labels)}, abs=1e-5
            )
            assert result[name][0]["label"] == labels[int(probabilities.argmax())]


@pytest.mark.parametrize("input_size", [None, [96, 72]])
def test_a_bfloat16_model_answers_as_it_does_on_the_processor_output(shared_processor, image_paths, input_size):
    # The documented path, model(**processor(images)), gives the model float32 pixels, which it resizes to its
    # input_size, then casts. Before, the pipeline cast them first and the model resized them in bfloat16: the
    # scores differed by up to 0.005. (In the pipeline's layout, channels_last: bfloat16 convolutions round
    # differently in another.)
    from transformers import pipeline

    model = make_tiny_model(seed=1234, input_size=input_size).to(torch.bfloat16)
    classifier = pipeline(modeling.TASK, model=model, image_processor=shared_processor)
    with torch.no_grad():
        logits = model(**shared_processor(image_paths, channels_last=True)).logits
    for index, result in enumerate(classifier(image_paths, top_k=100)):
        for name, labels in TINY_HEADS.items():
            probabilities = logits[name][index].float().softmax(-1)
            assert {entry["label"]: entry["score"] for entry in result[name]} == pytest.approx(
                {label: probabilities[i].item() for i, label in enumerate(labels)}, abs=1e-6
            ), name


def test_predictions_differ_between_images(shared_pipeline, image_paths):
    # guards the other comparisons against a model that answers the same for everything
    results = [shared_pipeline(path, top_k=100) for path in image_paths]
    first = [entry["score"] for entry in results[0]["articleType"]]
    assert any([entry["score"] for entry in r["articleType"]] != first for r in results[1:])


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_top_k_per_head(shared_pipeline, rgb_image_path, top_k):
    result = shared_pipeline(rgb_image_path, top_k=top_k)
    assert list(result) == list(TINY_HEADS)
    for name, labels in TINY_HEADS.items():
        entries = result[name]
        assert len(entries) == min(top_k, len(labels))
        scores = [entry["score"] for entry in entries]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) <= 1 + 1e-6
        assert all(entry["label"] in labels for entry in entries)
        assert len({entry["label"] for entry in entries}) == len(entries)
        if top_k >= len(labels):
            assert sum(scores) == pytest.approx(1, abs=1e-5)


def test_top_k_may_be_a_numpy_integer(shared_pipeline, rgb_image_path):
    assert all(len(answers) == 2 for answers in shared_pipeline(rgb_image_path, top_k=np.int64(2)).values())


def test_a_model_in_training_mode_answers_as_in_eval_mode_and_is_left_as_it_was(shared_model, shared_processor,
                                                                                  image_paths):
    training = copy.deepcopy(shared_model).train()
    statistics = copy.deepcopy(training.state_dict())
    classifier = FashionAttributesPipeline(model=training, image_processor=shared_processor)
    answers = classifier(image_paths[:4], batch_size=2)
    assert training.training  # the user's mode, kept
    assert all(torch.equal(value, statistics[name]) for name, value in training.state_dict().items())  # BatchNorm's
    want = FashionAttributesPipeline(model=shared_model, image_processor=shared_processor)(image_paths[:4])
    for got, expected in zip(answers, want, strict=True):
        assert_same_predictions(got, expected)


def test_top_k_set_at_construction(shared_model, shared_processor, rgb_image_path):
    from transformers import pipeline

    classifier = pipeline("fashion-attributes", model=shared_model, image_processor=shared_processor, top_k=2)
    assert all(len(entries) == 2 for entries in classifier(rgb_image_path).values())


@pytest.mark.parametrize("top_k", [0, -1, True, 1.5])
def test_invalid_top_k_raises(shared_pipeline, rgb_image_path, top_k):
    with pytest.raises(ValueError, match="top_k"):
        shared_pipeline(rgb_image_path, top_k=top_k)
    with pytest.raises(ValueError, match="top_k"):
        shared_pipeline([rgb_image_path], top_k=top_k)
    with pytest.raises(ValueError, match="top_k"):  # at the call, as for a list, not at the first answer
        shared_pipeline(iter([rgb_image_path]), top_k=top_k)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_invalid_batch_size_raises(shared_model, shared_processor, shared_pipeline, image_paths, batch_size):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        shared_pipeline(image_paths[:2], batch_size=batch_size)
    from transformers import pipeline

    built_so = pipeline(modeling.TASK, model=shared_model, image_processor=shared_processor, batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        built_so(image_paths[:2])


def test_batch_size_4_on_6_images_equals_single_calls(shared_pipeline, image_paths):
    images = image_paths[:6]
    assert len(images) == 6
    singles = [shared_pipeline(path, top_k=2) for path in images]
    batched = shared_pipeline(images, batch_size=4, top_k=2)
    unbatched = shared_pipeline(images, top_k=2)
    assert isinstance(batched, list) and len(batched) == 6
    for got, plain, want in zip(batched, unbatched, singles):
        assert_same_predictions(got, want)
        assert_same_predictions(plain, want)


@pytest.mark.parametrize("stream", ["generator", "KeyDataset", "datasets column"])
def test_a_stream_of_images_gives_an_iterator_of_the_list_answers(stream, shared_pipeline, image_paths, tmp_path,
                                                                   monkeypatch):
    import datasets
    from transformers.pipelines.pt_utils import KeyDataset

    images = [*image_paths[:5], tmp_path / "missing.jpg", image_paths[5]]  # one unreadable: answered, not raised
    rows = datasets.Dataset.from_dict({"image": [str(path) for path in images]})
    inputs = {"generator": (path for path in images), "KeyDataset": KeyDataset(rows, "image"),
              "datasets column": rows["image"]}[stream]  # fmt: skip
    monkeypatch.setattr(modeling.pipeline_fashion_attributes, "STREAM_BATCHES", 2)  # chunks of 2 x 2 images
    answers = shared_pipeline(inputs, batch_size=2, top_k=2)
    assert not isinstance(answers, list)
    answers = list(answers)
    assert len(answers) == len(images)
    assert "missing.jpg" in answers[5]["error"]
    for got, want in zip(answers, shared_pipeline(images, batch_size=2, top_k=2), strict=True):
        if "error" not in want:
            assert_same_predictions(got, want)


@pytest.mark.parametrize("stream", ["KeyDataset", "datasets column"])
def test_a_dataset_image_that_fails_to_decode_is_answered_with_its_error_and_the_others_are_answered(
    stream, shared_pipeline, image_paths
):  # fmt: skip
    import datasets
    from transformers.pipelines.pt_utils import KeyDataset

    # An Image column decodes each item as it is read: PIL's error came out of the iteration, ending the stream.
    photos = [path.read_bytes() for path in image_paths[:3]]
    rows = datasets.Dataset.from_dict({"image": [{"bytes": photo, "path": None} for photo in photos]},
                                      features=datasets.Features({"image": datasets.Image()}))  # fmt: skip
    rows = datasets.concatenate_datasets([rows.select([0, 1]), datasets.Dataset.from_dict(
        {"image": [{"bytes": b"not a photo", "path": None}]}, features=rows.features), rows.select([2])])
    inputs = {"KeyDataset": KeyDataset(rows, "image"), "datasets column": rows["image"]}[stream]
    answers = list(shared_pipeline(inputs, batch_size=2))
    assert len(answers) == 4
    assert answers[2]["error"].startswith(f"cannot read item 2 of the {type(inputs).__name__}: ")
    assert "UnidentifiedImageError" in answers[2]["error"]
    for got, photo in zip(answers[:2] + answers[3:], photos, strict=True):
        assert_same_predictions(got, shared_pipeline(photo))


def test_a_dataset_is_read_up_to_its_length_and_a_table_is_refused_naming_the_column_to_pass(shared_pipeline,
                                                                                           image_paths):
    import datasets

    class Photos(torch.utils.data.Dataset):  # answers any index, as a dataset may: only its length ends it
        def __len__(self) -> int:
            return 3

        def __getitem__(self, index: int) -> str:
            return str(image_paths[index % len(image_paths)])

    assert len(list(shared_pipeline(Photos(), batch_size=2))) == 3
    table = datasets.Dataset.from_dict({"image": [str(path) for path in image_paths[:2]]})
    with pytest.raises(ValueError, match=r"a table \(Dataset\) is not a list of images: pass its image column"):
        shared_pipeline(table)


def test_preprocessing_in_worker_processes_gives_the_same_answers(shared_pipeline, image_paths):
    images = image_paths[:6]
    want = shared_pipeline(images, batch_size=2, top_k=2)
    in_workers = shared_pipeline(images, batch_size=2, num_workers=2, top_k=2)
    # A stream takes num_workers as a list does (before, a TypeError from the parameter check).
    streamed = list(shared_pipeline(iter(images), batch_size=2, num_workers=2, top_k=2))
    for answers in (in_workers, streamed):
        for got, expected in zip(answers, want, strict=True):
            assert_same_predictions(got, expected)


def test_a_url_download_is_given_up_at_the_timeout_of_the_call_or_of_the_pipeline(shared_model, shared_processor,
                                                                                  trickling_url, rgb_image_path):
    # As transformers' image pipelines take it; before, `timeout` was refused as an unknown argument.
    from transformers import pipeline

    late = re.escape(trickling_url) + ".*longer than 0.5 s"
    classifier = pipeline(modeling.TASK, model=shared_model, image_processor=shared_processor)
    with pytest.raises(ImageLoadError, match=late):
        classifier(trickling_url, timeout=0.5)
    built_so = pipeline(modeling.TASK, model=shared_model, image_processor=shared_processor, timeout=0.5)
    answers = built_so([trickling_url, rgb_image_path])
    assert re.search(late, answers[0]["error"]) and list(answers[1]) == list(TINY_HEADS)
    for timeout in (0, -1, "5", True):
        with pytest.raises(ValueError, match="timeout must be a number of seconds above 0"):
            classifier(iter([rgb_image_path]), timeout=timeout)


def test_next_batch_is_queued_before_the_answers_to_a_batch_are_built(shared_pipeline, image_paths, monkeypatch):
    # On a GPU, forward only queues a batch's work: the answers to one batch are built while the next one runs.
    steps = []

    def recorded(step: str):
        shipped = getattr(shared_pipeline, step)

        def run(*args, **kwargs):
            steps.append(step)
            return shipped(*args, **kwargs)

        return run

    for step in ("forward", "postprocess"):
        monkeypatch.setattr(shared_pipeline, step, recorded(step))
    answers = shared_pipeline(image_paths[:5], batch_size=2)
    assert steps == ["forward", "forward", "postprocess", "forward", "postprocess", "postprocess"]
    for got, path in zip(answers, image_paths[:5], strict=True):
        assert_same_predictions(got, shared_pipeline(path))


def test_answers_wait_for_their_copy_from_the_device(shared_pipeline, rgb_image_path):
    # The top-k's copy to the host is only queued on a GPU: reading it before it is done would read garbage.
    outputs = shared_pipeline.forward(shared_pipeline.preprocess([load_rgb_image(rgb_image_path)]))
    waited = []
    outputs["copied"] = SimpleNamespace(synchronize=lambda: waited.append(True))
    assert shared_pipeline.postprocess(outputs) == [shared_pipeline(rgb_image_path)]
    assert waited == [True]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_answers_equal_cpu_answers(shared_model, shared_processor, shared_pipeline, image_paths, monkeypatch):
    # On a GPU the answers are read from copies the host did not wait for: read too early, they are garbage.
    from transformers import pipeline

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # else convolutions round as the CPU's do not

    on_gpu = pipeline(modeling.TASK, model=copy.deepcopy(shared_model), image_processor=shared_processor, device=0)
    images = [load_rgb_image(path) for path in image_paths] * 8  # many small batches queued one after the other
    for workers in (0, 2):
        for got, want in zip(on_gpu(images, batch_size=2, top_k=3, num_workers=workers),
                             shared_pipeline(images, batch_size=2, top_k=3), strict=True):
            assert_same_predictions(got, want, atol=1e-4)


def test_a_list_holds_large_photos_fitted_to_the_model_input_with_the_same_answers(shared_pipeline, rgb_image_path,
                                                                                  monkeypatch):
    # A list is read whole before its first batch: phone photos must not stay in memory at full size.
    large = PIL.Image.open(rgb_image_path).convert("RGB").resize((1200, 1600), PIL.Image.BICUBIC)
    held = []
    preprocess = shared_pipeline.preprocess
    monkeypatch.setattr(shared_pipeline, "preprocess", lambda images: held.extend(images) or preprocess(images))
    answers = shared_pipeline([large, rgb_image_path], batch_size=2)
    size = shared_pipeline.image_processor.size
    assert [image.size for image in held] == [(size["width"], size["height"])] * 2
    monkeypatch.undo()
    assert_same_predictions(answers[0], shared_pipeline(large))
    assert_same_predictions(answers[1], shared_pipeline(rgb_image_path))


def test_list_of_one_gives_list_of_one(shared_pipeline, rgb_image_path):
    result = shared_pipeline([rgb_image_path])
    assert isinstance(result, list) and len(result) == 1
    assert_same_predictions(result[0], shared_pipeline(rgb_image_path))


def test_accepts_pil_and_encoded_bytes(shared_pipeline, rgb_image_path):
    import PIL.Image

    expected = shared_pipeline(str(rgb_image_path))
    assert_same_predictions(shared_pipeline(PIL.Image.open(rgb_image_path)), expected)
    for encoded in (bytes, bytearray, memoryview):  # each one image, not a sequence of numbers
        assert_same_predictions(shared_pipeline(encoded(rgb_image_path.read_bytes())), expected)


# --- unusual and unreadable inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ODD_KINDS)
def test_odd_but_readable_images_are_classified(kind, shared_pipeline, tmp_path, rgb_image_path):
    path = write_odd_image(kind, tmp_path, rgb_image_path)
    result = shared_pipeline(path)
    assert list(result) == list(TINY_HEADS)


def test_real_grayscale_and_square_photos_are_classified(shared_pipeline, image_paths):
    import PIL.Image

    odd = [p for p in image_paths if PIL.Image.open(p).mode == "L" or PIL.Image.open(p).size != (60, 80)]
    assert len(odd) >= 2
    for path in odd:
        assert list(shared_pipeline(path)) == list(TINY_HEADS)


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_single_unreadable_image_raises_naming_the_path(kind, shared_pipeline, tmp_path, rgb_image_path):
    path = write_bad_file(kind, tmp_path, rgb_image_path)
    with pytest.raises(ImageLoadError, match=str(path)):
        shared_pipeline(path)
    with pytest.raises(ValueError):
        shared_pipeline(str(path))


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_list_with_one_bad_item_answers_the_others(kind, batch_size, shared_pipeline, tmp_path, image_paths):
    bad = write_bad_file(kind, tmp_path, image_paths[0])
    good = image_paths[:5]
    inputs = [good[0], good[1], bad, good[2], good[3], good[4]]
    results = shared_pipeline(inputs, batch_size=batch_size, top_k=2)
    assert len(results) == len(inputs)
    assert set(results[2]) == {"error"}
    assert str(bad) in results[2]["error"]
    answered = results[:2] + results[3:]
    for got, path in zip(answered, good):
        assert "error" not in got
        assert_same_predictions(got, shared_pipeline(path, top_k=2))


def test_arrays_and_tensors_in_a_list_empty_one_refused_grad_one_answered(shared_pipeline, image_paths):
    photo = torch.from_numpy(np.array(PIL.Image.open(image_paths[0]).convert("RGB"))).permute(2, 0, 1)
    needs_grad = (photo.float() / 255).requires_grad_()  # as a model's output might be
    results = shared_pipeline([image_paths[1], np.zeros((0, 0, 3), np.uint8), needs_grad], batch_size=2)
    assert results[1] == {"error": "cannot read image <ndarray of shape (0, 0, 3)>: the image has no pixels (0x0)"}
    assert_same_predictions(results[0], shared_pipeline(image_paths[1]))
    assert_same_predictions(results[2], shared_pipeline(needs_grad.detach()))


def test_list_of_only_bad_items(shared_pipeline, tmp_path, rgb_image_path):
    bad = [write_bad_file(kind, tmp_path, rgb_image_path) for kind in ("empty", "missing")]
    results = shared_pipeline(bad)
    assert [set(r) for r in results] == [{"error"}, {"error"}]
    assert all(str(path) in r["error"] for path, r in zip(bad, results))


def test_collector_paused_while_answers_are_built_and_restored_after(shared_pipeline, image_paths, tmp_path,
                                                                       monkeypatch):
    # Collections walk every object of the process and find no garbage in the answers (see collector_paused).
    collector_enabled = []
    build_answers = shared_pipeline.postprocess

    def watched(*args, **kwargs):
        collector_enabled.append(gc.isenabled())
        return build_answers(*args, **kwargs)

    monkeypatch.setattr(shared_pipeline, "postprocess", watched)
    try:
        assert len(shared_pipeline(image_paths[:4], batch_size=2)) == 4
        assert collector_enabled == [False, False]
        assert gc.isenabled()
        with pytest.raises(ImageLoadError):
            shared_pipeline(tmp_path / "missing.jpg")
        assert gc.isenabled()
        gc.disable()  # a user's choice stays
        shared_pipeline(image_paths[0])
        assert not gc.isenabled()
    finally:
        gc.enable()
