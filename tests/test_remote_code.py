"""A saved model folder is self-contained: it loads with trust_remote_code in a fresh process where the
`modeling` package is never imported, and gives the same answers as the model that was saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import TINY_HEADS
from safetensors import safe_open

import modeling

CODE_FILES = {
    "configuration_fashion_resnet.py",
    "modeling_fashion_resnet.py",
    "image_processing_fashion_resnet.py",
    "pipeline_fashion_attributes.py",
}

# Runs in a fresh interpreter, cwd = an empty temp dir: argv = folder, output json, image paths...
FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, pipeline

    folder, out, resaved, images = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    report = {}
    try:  # without trust_remote_code (and without the package) the custom code must not run
        AutoModel.from_pretrained(folder)
        report["untrusted"] = "loaded"
    except Exception as error:
        report["untrusted"] = type(error).__name__ + ": " + str(error)

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    classifier = pipeline(model=folder, trust_remote_code=True)
    with torch.no_grad():
        logits = model(**processor(images)).logits
    model.save_pretrained(resaved)  # as after fine-tuning the loaded model, without the package
    processor.save_pretrained(resaved)
    report.update(
        heads=config.heads,
        head_order=list(config.heads),
        classes={
            "config": type(config).__module__ + "." + type(config).__name__,
            "model": type(model).__module__ + "." + type(model).__name__,
            "processor": type(processor).__module__ + "." + type(processor).__name__,
            "pipeline": type(classifier).__module__ + "." + type(classifier).__name__,
            "pipeline_model": type(classifier.model).__module__,
        },
        processor={"size": processor.size, "image_mean": processor.image_mean, "image_std": processor.image_std},
        logits={name: value.tolist() for name, value in logits.items()},
        pipeline=classifier(images, top_k=2),
        pipeline_single=classifier(images[0]),
        resaved_pipeline=pipeline(model=resaved, trust_remote_code=True)(images, top_k=2),
        modeling_imported="modeling" in sys.modules,
        modeling_modules=sorted(name for name in sys.modules if name == "modeling" or name.startswith("modeling.")),
    )
    with open(out, "w") as file:
        json.dump(report, file)
    """
)


@pytest.fixture(scope="session")
def fresh_process_report(saved_folder, image_paths, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fresh_process_cwd")
    out = workdir / "report.json"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["HF_HUB_OFFLINE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    env["HF_MODULES_CACHE"] = str(tmp_path_factory.mktemp("hf_modules"))  # no stale copies of the code
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(saved_folder), str(out), str(workdir / "resaved"),
         *map(str, image_paths)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(out.read_text())


def test_saved_folder_holds_config_weights_processor_and_code(saved_folder):
    names = {path.name for path in saved_folder.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= names
    assert CODE_FILES <= names
    pickled = [name for name in names if name.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"))]
    assert not pickled, f"pickled files in the saved folder: {pickled}"

    config = json.loads((saved_folder / "config.json").read_text())
    assert config["model_type"] == "fashion_resnet"
    assert config["architecture"] == "test_resnet"
    assert list(config["heads"]) == list(TINY_HEADS) and config["heads"] == TINY_HEADS
    assert config["auto_map"] == {
        "AutoConfig": "configuration_fashion_resnet.FashionResNetConfig",
        "AutoModel": "modeling_fashion_resnet.FashionResNetModel",
    }
    assert config["custom_pipelines"]["fashion-attributes"]["impl"] == (
        "pipeline_fashion_attributes.FashionAttributesPipeline"
    )
    preprocessor = json.loads((saved_folder / "preprocessor_config.json").read_text())
    assert preprocessor["auto_map"] == {"AutoImageProcessor": "image_processing_fashion_resnet.FashionImageProcessor"}
    assert preprocessor["size"] == {"height": 80, "width": 60}

    # the copied code is this package's code
    package = Path(modeling.__file__).parent
    for name in CODE_FILES:
        assert (saved_folder / name).read_text() == (package / name).read_text(), name


def test_weights_are_complete_safetensors(saved_folder, shared_model):
    with safe_open(str(saved_folder / "model.safetensors"), framework="pt") as weights:
        keys = set(weights.keys())
        state = shared_model.state_dict()
        assert keys == set(state), keys ^ set(state)
        for key in state:
            assert torch.equal(weights.get_tensor(key), state[key]), key


def test_a_pickled_checkpoint_is_refused_not_unpickled(saved_folder, shared_model, tmp_path):
    from transformers import AutoModel

    folder = tmp_path / "pickled"
    folder.mkdir()
    for path in saved_folder.iterdir():
        if path.name != "model.safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    torch.save(shared_model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(OSError, match="model.safetensors"):
        AutoModel.from_pretrained(folder, trust_remote_code=True)


def test_fresh_process_did_not_import_the_package(fresh_process_report):
    assert fresh_process_report["modeling_imported"] is False, fresh_process_report["modeling_modules"]
    for role, qualified_name in fresh_process_report["classes"].items():
        assert not qualified_name.startswith("modeling."), (role, qualified_name)
        assert "transformers_modules" in qualified_name, (role, qualified_name)
    assert fresh_process_report["classes"]["pipeline"].endswith("FashionAttributesPipeline")
    assert fresh_process_report["classes"]["model"].endswith("FashionResNetModel")
    assert fresh_process_report["classes"]["processor"].endswith("FashionImageProcessor")


def test_fresh_process_refuses_code_without_trust_remote_code(fresh_process_report):
    assert fresh_process_report["untrusted"] != "loaded"
    assert "trust_remote_code" in fresh_process_report["untrusted"]


def test_fresh_process_config_and_processor(fresh_process_report, shared_processor):
    assert fresh_process_report["head_order"] == list(TINY_HEADS)
    assert fresh_process_report["heads"] == TINY_HEADS
    assert fresh_process_report["processor"]["size"] == shared_processor.size
    assert fresh_process_report["processor"]["image_mean"] == pytest.approx(shared_processor.image_mean)
    assert fresh_process_report["processor"]["image_std"] == pytest.approx(shared_processor.image_std)


def test_fresh_process_gives_the_same_logits(fresh_process_report, shared_model, shared_processor, image_paths):
    with torch.no_grad():
        expected = shared_model(**shared_processor(image_paths)).logits
    remote = fresh_process_report["logits"]
    assert list(remote) == list(TINY_HEADS)
    for name in TINY_HEADS:
        torch.testing.assert_close(torch.tensor(remote[name]), expected[name], atol=1e-5, rtol=0, msg=name)


def test_fresh_process_pipeline_matches_and_uses_config_labels(fresh_process_report, shared_pipeline, image_paths):
    remote = fresh_process_report["pipeline"]
    assert len(remote) == len(image_paths)
    for got, path in zip(remote, image_paths):
        want = shared_pipeline(path, top_k=2)
        assert list(got) == list(TINY_HEADS)
        for name, labels in TINY_HEADS.items():
            assert [e["label"] for e in got[name]] == [e["label"] for e in want[name]]
            assert all(e["label"] in labels for e in got[name])
            assert [e["score"] for e in got[name]] == pytest.approx([e["score"] for e in want[name]], abs=1e-5)
    assert fresh_process_report["resaved_pipeline"] == remote  # the re-saved folder carries the pipeline too
    single = fresh_process_report["pipeline_single"]
    assert list(single) == list(TINY_HEADS) and all(len(v) == 1 for v in single.values())


# --- in this process, with the package installed -----------------------------------------------------------


def test_registered_auto_classes_load_without_trust_remote_code(saved_folder, shared_model, shared_processor):
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, pipeline

    config = AutoConfig.from_pretrained(saved_folder)
    model = AutoModel.from_pretrained(saved_folder).eval()
    processor = AutoImageProcessor.from_pretrained(saved_folder)
    assert type(config) is modeling.FashionResNetConfig
    assert type(model) is modeling.FashionResNetModel
    assert type(processor) is modeling.FashionImageProcessor
    assert list(model.config.heads) == list(TINY_HEADS)
    pixels = processor(torch.zeros(2, 3, 90, 70, dtype=torch.uint8)).pixel_values
    with torch.no_grad():
        for name, value in model(pixels).logits.items():
            torch.testing.assert_close(value, shared_model(pixels).logits[name], atol=1e-5, rtol=0)
    # config.json's custom_pipelines makes `pipeline(task, model=folder)` demand trust_remote_code even when the
    # task is registered locally (transformers' rule); naming the installed class avoids running the copied code.
    classifier = pipeline(
        "fashion-attributes", model=str(saved_folder), pipeline_class=modeling.FashionAttributesPipeline
    )
    assert type(classifier) is modeling.FashionAttributesPipeline
    assert type(classifier.image_processor) is modeling.FashionImageProcessor
    assert type(classifier.model) is modeling.FashionResNetModel


@pytest.mark.parametrize("backend", [None, "pil", "torchvision"])
def test_processor_loads_for_any_backend_without_a_fallback_warning(saved_folder, backend, caplog):
    """transformers 5.x asks for the torchvision backend by default; the one processor serves every backend, so
    nobody is told that a backend is missing."""
    from transformers import AutoImageProcessor
    from transformers.utils import logging

    logging.get_logger().warning_once.cache_clear()  # a warning given earlier in the session would hide this one
    logging.add_handler(caplog.handler)  # transformers' loggers do not propagate to the root logger
    try:
        processor = AutoImageProcessor.from_pretrained(saved_folder, **({"backend": backend} if backend else {}))
    finally:
        logging.remove_handler(caplog.handler)
    assert type(processor) is modeling.FashionImageProcessor
    assert not [record.getMessage() for record in caplog.records if "backend" in record.getMessage()]


def test_bfloat16_loading(saved_folder, shared_model, shared_processor, image_paths):
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(saved_folder, dtype=torch.bfloat16).eval()
    assert model.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    pixels = shared_processor(image_paths).pixel_values  # float32 in: the model casts
    with torch.no_grad():
        low = model(pixels).logits
        full = shared_model(pixels).logits
    for name in TINY_HEADS:
        assert low[name].dtype == torch.bfloat16
        assert torch.isfinite(low[name].float()).all()
        torch.testing.assert_close(low[name].float(), full[name], atol=0.15, rtol=0.05, msg=name)
    # the pipeline works on a bf16 model and returns float scores
    classifier = pipeline("fashion-attributes", model=model, image_processor=shared_processor)
    result = classifier(image_paths[0], top_k=2)
    assert list(result) == list(TINY_HEADS)
    assert all(isinstance(e["score"], float) for entries in result.values() for e in entries)
