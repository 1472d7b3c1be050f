"""Gradio demo of fashion-resnet50 (the Hugging Face Spaces `app.py`, with `predict.py` beside it): upload a
product photo and see every head's top predictions with their scores.

  python app.py [--model FOLDER_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]

The model is `--model`, else $MODEL_ID, else outputs/fashion-resnet50. On Spaces, GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT set the address.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a demo has no business phoning home

import gradio as gr  # noqa: E402
from transformers import Pipeline  # noqa: E402

from predict import load_classifier  # noqa: E402

DEFAULT_MODEL = "outputs/fashion-resnet50"
TOP_K = 3
# System fonts: the default theme would fetch Google Fonts, which offline machines cannot reach.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])

HeadScores = dict[str, float]


def head_names(classifier: Pipeline) -> list[str]:
    """The heads in config order."""
    return list(classifier.model.config.heads)


def predict(classifier: Pipeline, image_path: str | None) -> list[HeadScores | None]:
    """One `{label: score}` per head for an uploaded image; nothing for a cleared one."""
    heads = head_names(classifier)
    if image_path is None:
        return [None] * len(heads)
    try:
        prediction = classifier(image_path, top_k=TOP_K)
    except Exception as error:
        # Show the reason instead of Gradio's bare "Error". ImageLoadError names the file and what is wrong with
        # it; anything else (a model published with an older loader may raise struct.error on a photo's EXIF)
        # needs its type to be read.
        reason = str(error) if isinstance(error, ValueError) else traceback.format_exception_only(error)[-1].strip()
        raise gr.Error(reason) from error
    return [{p["label"]: p["score"] for p in prediction[head]} for head in heads]


def uploaded_file(upload: dict | None) -> str | None:
    """The path of an upload as Gradio hands it over unprocessed (its file already moved into Gradio's cache)."""
    return None if upload is None else upload["path"]


def build_demo(classifier: Pipeline, model_name: str) -> gr.Blocks:
    """An image input and one `gr.Label` per head (element id `label-<head>`), updated on upload."""
    with gr.Blocks(title="fashion-resnet50") as demo:
        gr.Markdown(f"# fashion-resnet50\nUpload a product photo (one item, plain background). Model: `{model_name}`")
        with gr.Row():
            image = gr.Image(type="filepath", sources=["upload"], label="product photo", height=400)
            with gr.Column():
                labels = [gr.Label(num_top_classes=TOP_K, label=head, elem_id=f"label-{head}")
                          for head in head_names(classifier)]  # fmt: skip
        # preprocess=False: the uploaded file itself goes to the pipeline. Gradio's Image would open it with PIL
        # first, so that a file PIL cannot read failed there with a generic error instead of the pipeline's
        # reason, and convert it to RGB, turning transparency black where the processor puts white.
        image.change(lambda upload: predict(classifier, uploaded_file(upload)), inputs=image, outputs=labels,
                     preprocess=False)  # fmt: skip
    return demo


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("MODEL_ID", DEFAULT_MODEL), help="model folder or Hub id")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        classifier = load_classifier(args.model)
    except Exception as error:  # no such folder or repo, not a model of this kind, corrupt files: as predict.py
        print(f"cannot load the model {args.model}: {type(error).__name__}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    demo = build_demo(classifier, args.model)
    try:
        demo.launch(server_name=args.host, server_port=args.port, theme=THEME)
    except OSError as error:  # a port taken, an address not this machine's: one line, naming this command's flags
        # Gradio's message goes on to name its own launch() parameter and environment variable.
        reason = str(error).split(". You can specify")[0]
        print(f"cannot serve the demo: {reason} (give another --port or --host)", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
