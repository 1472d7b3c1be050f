#!/usr/bin/env bash
# Issue 5 end to end: data, training (with its evaluation and model card), the three benchmarks and
# summary.md, all written into results/NAME/. From the repository root or anywhere:
#
#   benchmarks/reproduce.sh [NAME]            one H100: full shared data, train.py --preset h100 (NAME: h100)
#   benchmarks/reproduce.sh --tiny [NAME]     CPU smoke run: test_resnet, bundled sample, 2 epochs (NAME: cpu-tiny)
#   TINY=1 benchmarks/reproduce.sh            same as --tiny
#
# Meant to end well within 10 minutes on one H100 (not yet timed on one: results/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

TINY=${TINY:-0}
if [[ ${1:-} == --tiny ]]; then
    TINY=1
    shift
fi
export HF_HUB_OFFLINE=1  # from scratch, nothing downloaded: the run is the same on an offline machine

if [[ $TINY == 1 ]]; then
    NAME=${1:-cpu-tiny}
    DATASET=data/sample
    # One thread per process: the figures stay meaningful when other jobs share the cores.
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ACCELERATE_USE_CPU=true
    LAUNCH=(accelerate launch --cpu --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no)
    TRAIN=(--architecture test_resnet --epochs 2 --batch_size 32)
    TRAIN_BENCH=(--architecture test_resnet --epochs 2 --batch-size 32 --warmup 2 --steps 20)
    INFER_BENCH=(--batch-size 32 --num-images 256 --warmup 2 --steps 20)
    ROBUST=(--batch-size 64)
else
    NAME=${1:-h100}
    DATASET=cache/full
    LAUNCH=(accelerate launch --num_processes 1 --num_machines 1 --mixed_precision bf16 --dynamo_backend no)
    TRAIN=(--preset h100)
    TRAIN_BENCH=(--preset h100)
    # The photos are resized by PIL on the host (the processor the model was trained with): 8 processes do it.
    INFER_BENCH=(--batch-size 512 --num-images 6144 --num-workers 8)
    ROBUST=(--batch-size 512)
fi
OUT=results/$NAME
rm -rf "$OUT"  # a results folder is one run: nothing stale from an earlier one
mkdir -p "$OUT/logs"

# step NAME COMMAND...: run COMMAND, log its output to logs/NAME.log, record it and its wall time in steps.tsv.
step() {
    local name=$1 start end
    shift
    echo "=== $name: $*"
    start=$EPOCHREALTIME
    "$@" 2>&1 | tee "$OUT/logs/$name.log"
    end=$EPOCHREALTIME
    awk -v name="$name" -v s="$start" -v e="$end" -v cmd="$*" 'BEGIN { printf "%s\t%.1f\t%s\n", name, e - s, cmd }' \
        >>"$OUT/steps.tsv"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv 2>/dev/null ||
        echo "nvidia-smi: not available (no NVIDIA GPU)"
    lscpu | grep -E '^(Model name|CPU\(s\))' || true
    grep MemTotal /proc/meminfo || true
} >"$OUT/hardware.txt"

if [[ ! -f $DATASET/cleaning_summary.json ]]; then
    step prepare python -m data_scripts.prepare ../shared/data/fashion-product-images-small --output-dir "$DATASET"
fi
step train "${LAUNCH[@]}" train.py "${TRAIN[@]}" --backbone_weights none --dataset "$DATASET" \
    --output_dir "$OUT/model"
step train_throughput python -m benchmarks.train_throughput "${TRAIN_BENCH[@]}" --dataset "$DATASET" \
    --output "$OUT/train_throughput.json"
step inference_throughput python -m benchmarks.inference_throughput --model "$OUT/model" --dataset "$DATASET" \
    "${INFER_BENCH[@]}" --output "$OUT/inference_throughput.json"
step robustness python -m benchmarks.robustness --model "$OUT/model" --dataset "$DATASET" "${ROBUST[@]}" \
    --output "$OUT/robustness.json"
python -m benchmarks.summary "$OUT"
