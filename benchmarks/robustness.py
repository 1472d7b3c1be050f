"""Robustness to larger photos: validation accuracy at native size vs the same images upscaled and re-JPEG'd.

    python -m benchmarks.robustness --model results/x/model --dataset cache/full --output results/x/robustness.json

Both passes go through the saved `fashion-attributes` pipeline (its own processor), as a user would call it.
The larger copies are bicubic-upscaled to fit 240x320 keeping their aspect ratio (4x the native 60x80; a photo of
another shape is not stretched) and recompressed as JPEG (quality 90), like product photos from a shop at a higher
resolution. Issue 5 asks for at most 3 points lost per head.
"""

from __future__ import annotations

import argparse
import io

import evaluate
import PIL.Image
import PIL.ImageOps
import torch
from tqdm.auto import tqdm
from transformers import Pipeline

from benchmarks.common import (LabelledImages, environment, load_images, load_pipeline, model_benchmark_parser,
                               parse_size, pick_device, write_json)
from modeling import load_rgb_image
from train import HEAD_METRICS

MAX_DROP_POINTS = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = model_benchmark_parser(__doc__)
    parser.add_argument("--size", type=parse_size, default="240x320", help="WIDTHxHEIGHT the larger copies fit")
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--limit", type=int, help="first N validation images only (quick checks)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"],
                        help="the weights' dtype (default: bfloat16 on CUDA, float32 elsewhere)")
    return parser.parse_args(argv)


def enlarge(image: PIL.Image.Image, size: tuple[int, int], quality: int) -> PIL.Image.Image:
    """Bicubic resize to fit `size` keeping the aspect ratio, JPEG round trip at `quality`."""
    buffer = io.BytesIO()
    PIL.ImageOps.contain(image, size, PIL.Image.BICUBIC).save(buffer, format="JPEG", quality=quality)
    return load_rgb_image(buffer.getvalue())


def head_scores(classifier: Pipeline, images: list[PIL.Image.Image], data: LabelledImages, batch_size: int,
                desc: str) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 per head of the pipeline's top-1 answers; images without a label are skipped."""
    predictions = [classifier(images[start:start + batch_size], batch_size=batch_size)
                   for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch")]
    predictions = [answer for batch in predictions for answer in batch]
    metric = evaluate.load(HEAD_METRICS)
    scores = {}
    for head, names in data.names.items():
        index = {name: i for i, name in enumerate(names)}
        pairs = [(index[answer[head][0]["label"]], label)
                 for answer, label in zip(predictions, data.labels[head]) if label >= 0]
        predicted, references = zip(*pairs)
        result = metric.compute(predictions=predicted, references=references, labels=names)
        scores[head] = {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"]}
    return scores


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = pick_device()
    classifier = load_pipeline(args.model, device, dtype=getattr(torch, args.dtype) if args.dtype else None)
    data = load_images(args.dataset, limit=args.limit)
    if classifier.model.config.heads != data.names:
        raise SystemExit(f"{args.model} was trained with other labels than {args.dataset}'s")
    larger = [enlarge(image, args.size, args.jpeg_quality)
              for image in tqdm(data.images, desc=f"upscaling to {args.size[0]}x{args.size[1]}", unit="img")]
    native = head_scores(classifier, data.images, data, args.batch_size, "native size")
    upscaled = head_scores(classifier, larger, data, args.batch_size, "upscaled")
    difference = {head: round(100 * (upscaled[head]["accuracy"] - native[head]["accuracy"]), 2) for head in native}
    result = {
        "settings": {"model": str(args.model), "dataset": args.dataset, "split": "validation",
                     "num_images": len(data.images), "upscaled_size": list(args.size),
                     "jpeg_quality": args.jpeg_quality, "processor_size": classifier.image_processor.size,
                     "dtype": str(classifier.model.dtype).removeprefix("torch.")},
        "native": native,
        "upscaled": upscaled,
        "accuracy_difference_points": difference,
        "max_drop_points": MAX_DROP_POINTS,
        "within_target": all(change >= -MAX_DROP_POINTS for change in difference.values()),
        **environment(device),
    }
    width, height = args.size
    print(f"{'head':>12}  native  {width}x{height}+JPEG{args.jpeg_quality}  difference (points)")
    for head in native:
        print(f"{head:>12}  {native[head]['accuracy']:6.1%}  {upscaled[head]['accuracy']:13.1%}  {difference[head]:+10.1f}")
    print(f"within {MAX_DROP_POINTS:g} points on every head: {result['within_target']}")
    write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
