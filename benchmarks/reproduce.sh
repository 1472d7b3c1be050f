#!/usr/bin/env bash
# Issue 5 end to end: data, training (with its evaluation and model card), the three benchmarks and
# summary.md, all written into results/NAME/. From the repository root or anywhere:
#
#   benchmarks/reproduce.sh [NAME [FLAG...]]  one H100: the full prepared data in cache/full (prepared from
#                                             ../shared/data/fashion-product-images-small if missing), train.py
#                                             --preset h100 (NAME: h100)
#   benchmarks/reproduce.sh --tiny [NAME]     CPU smoke run: test_resnet, bundled sample, 2 epochs (NAME: cpu-tiny)
#   TINY=1 benchmarks/reproduce.sh            same as --tiny
#
# FLAGs after NAME go to train.py and override the preset's, e.g. `h100-80x60 --input_size 80 60`.
#
# Meant to end within 10 minutes on one H100: 478 s and 460 s with the preset as it is (results/h100-preset/,
# results/h100-next/), 491 s and 330 s with earlier ones (results/README.md); a larger input takes longer (with
# `--input_size 240 180`, 448 s before the training benchmark, which needs about 100 s more: results/h100-240x180/).
# On a machine without datasets and evaluate and without a package index: benchmarks/offline_wheels.sh.
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
    shift || true
    DATASET=data/sample
    # One thread per process: the figures stay meaningful when other jobs share the cores.
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ACCELERATE_USE_CPU=true
    LAUNCH=(--cpu --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no)
    TRAIN=(--architecture test_resnet --epochs 2 --batch_size 32 "$@")
    TRAIN_BENCH=(--warmup 2 --steps 20)
    INFER_BENCH=(--batch-size 32 --num-images 256 --warmup 2 --steps 20)
    ROBUST=(--batch-size 64)
else
    NAME=${1:-h100}
    shift || true
    DATASET=cache/full
    LAUNCH=(--num_processes 1 --num_machines 1 --mixed_precision bf16 --dynamo_backend no)
    TRAIN=(--preset h100 "$@")
    TRAIN_BENCH=()
    # Host preprocessing (the processor's fit, in PIL) runs in 8 processes beside the GPU. 96 batches, for the
    # rate of a large job: on the H100, 12 gave 11,388 images/s and 96 gave 12,239 (results/README.md).
    INFER_BENCH=(--batch-size 512 --num-images 49152 --num-workers 8)
    ROBUST=(--batch-size 512)
fi
# What can fail in seconds fails before an earlier results folder is removed: the data, and every import the
# steps need (a missing package would otherwise fail after training).
RAW=../shared/data/fashion-product-images-small
if [[ ! -f $DATASET/cleaning_summary.json && ! -d $RAW ]]; then
    echo "no $DATASET and no raw data in $RAW to prepare it from" >&2
    exit 1
fi
python3 -c "import benchmarks.inference_throughput, benchmarks.robustness, benchmarks.summary, benchmarks.train_throughput"
OUT=results/$NAME
rm -rf "$OUT"  # a results folder is one run: nothing stale from an earlier one
mkdir -p "$OUT/logs"

# step NAME COMMAND...: run COMMAND, log its output to logs/NAME.log, record it with its wall time and exit
# status in steps.tsv, and what the GPU did meanwhile in logs/NAME.gpu.csv (where there is one). A failed step
# does not stop the others: a run on a lent machine is one try, and every benchmark that can still run should.
FAILED=()
step() {
    local name=$1 start end status=0 sampler
    shift
    echo "=== $name: $*"
    python3 -m benchmarks.gpu_samples --record "$OUT/logs/$name.gpu.csv" &
    sampler=$!
    start=$EPOCHREALTIME
    "$@" 2>&1 | tee "$OUT/logs/$name.log" || status=$?
    end=$EPOCHREALTIME
    kill "$sampler" 2>/dev/null || true  # gone already where there is no nvidia-smi
    awk -v name="$name" -v s="$start" -v e="$end" -v status="$status" -v cmd="$*" \
        'BEGIN { printf "%s\t%.1f\t%s\t%s\n", name, e - s, status, cmd }' >>"$OUT/steps.tsv"
    ((status == 0)) || FAILED+=("$name")
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv 2>/dev/null ||
        echo "nvidia-smi: not available (no NVIDIA GPU)"
    lscpu | grep -E '^(Model name|CPU\(s\))' || true
    grep MemTotal /proc/meminfo || true
    python3 -m benchmarks.summary --software  # recorded here: the summary may be rebuilt on another machine
} >"$OUT/hardware.txt"

if [[ ! -f $DATASET/cleaning_summary.json ]]; then
    step prepare python3 -m data_scripts.prepare "$RAW" --output-dir "$DATASET"
    ((${#FAILED[@]} == 0)) || exit 1
fi
# What must travel with the code to a GPU machine that has no raw data (64 MiB at most on the lent ones).
echo "prepared dataset $DATASET: $(du -sh "$DATASET" | cut -f1)" >>"$OUT/hardware.txt"
step train python3 -m accelerate.commands.launch "${LAUNCH[@]}" train.py "${TRAIN[@]}" --backbone_weights none \
    --dataset "$DATASET" --output_dir "$OUT/model"
if [[ -f $OUT/model/metrics.json ]]; then  # the benchmarks measure the trained model
    # Cheapest first: the training benchmark compiles the model again, so a run stopped by a time limit
    # loses it rather than the other two.
    step inference_throughput python3 -m benchmarks.inference_throughput --model "$OUT/model" --dataset "$DATASET" \
        "${INFER_BENCH[@]}" --output "$OUT/inference_throughput.json"
    step robustness python3 -m benchmarks.robustness --model "$OUT/model" --dataset "$DATASET" "${ROBUST[@]}" \
        --output "$OUT/robustness.json"
    step train_throughput python3 -m benchmarks.train_throughput --run "$OUT/model" "${TRAIN_BENCH[@]}" \
        --output "$OUT/train_throughput.json"
fi
python3 -m benchmarks.summary "$OUT"
if ((${#FAILED[@]})); then
    echo "failed: ${FAILED[*]} (logs in $OUT/logs)" >&2
    exit 1
fi
