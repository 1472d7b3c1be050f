"""Time `prepare` on the full raw data: python -m data_scripts.benchmark [SOURCE] [--output-dir DIR]."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from .prepare import SHARED_DATA, prepare


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", nargs="?", default=str(SHARED_DATA))
    parser.add_argument("--output-dir", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        start = time.perf_counter()
        prepare(args.source, output)
        seconds = time.perf_counter() - start
        summary = json.loads((output / "cleaning_summary.json").read_text())
    rows = summary["rows_read"]
    print(
        f"prepare: {rows} rows read, {summary['kept']} kept, in {seconds:.1f} s "
        f"= {rows / seconds:.0f} rows/s on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
