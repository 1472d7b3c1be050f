#!/usr/bin/env bash
# Wheels of what this project needs beyond a GPU image that has PyTorch, timm, transformers, accelerate,
# pandas, pyarrow and pytest (as the lent H100 machines do) but not datasets and evaluate, for a machine with
# no package index; and timm, so that the run uses the timm this project is tested with, whatever the image
# holds. Downloads them here into .whl/ (git-ignored; about 4 MB: with the tracked tree and the prepared data,
# what a lent machine's call may carry is 64 MiB):
#
#   benchmarks/offline_wheels.sh [PYTHON_VERSION]        # default 3.12, the H100 image's
#
# and there, before benchmarks/reproduce.sh:
#
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp --python-version "${1:-3.12}" \
    --dest .whl datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19 timm==1.0.31
ls -l .whl
