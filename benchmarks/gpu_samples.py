"""What the GPU did during each step of `reproduce.sh`: nvidia-smi's samples, recorded, summarised and plotted.

    python -m benchmarks.gpu_samples --record logs/STEP.gpu.csv   (reproduce.sh, beside each step; stop it with
                                                                   SIGTERM; without nvidia-smi it records nothing)

A training loop slower than the bare model either left the GPU idle part of the time (busy under 100 %) or ran
on a slower GPU (a lower SM clock, e.g. held down at its power limit): the samples tell which, read while the
step kept the GPU working (`working`). Made for a machine with one GPU (on one with several, their rows are pooled).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
from datetime import datetime
from pathlib import Path

# What nvidia-smi writes, in this order (read by position: its header's spelling of a name varies by driver).
QUERY = ("timestamp", "utilization.gpu", "clocks.sm", "power.draw", "temperature.gpu")
MEASURES = {"busy": "busy %", "sm_clock": "SM clock (MHz)", "power": "power (W)", "temperature": "temperature (C)"}
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S")
INTERVAL_MS = 500
WORKING_BUSY = 50  # a sample at least this busy: the step had work on the GPU
SUFFIX = ".gpu.csv"


def record(path: Path) -> None:
    """Become nvidia-smi writing a sample of the GPU to `path` every `INTERVAL_MS` until killed; return at
    once, writing nothing, on a machine without it."""
    if shutil.which("nvidia-smi") is None:
        return
    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # e.g. "No devices were found": no samples, not a bad file
    os.execvp("nvidia-smi", ["nvidia-smi", f"--query-gpu={','.join(QUERY)}", "--format=csv",
                             f"--loop-ms={INTERVAL_MS}"])


def number(text: str) -> float | None:
    """'98 %', '1980 MHz', '612.34 W', '41' -> the number; '[N/A]', '[Not Supported]' -> None."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


def timestamp(text: str) -> float | None:
    """nvidia-smi's local time, '2026/11/28 00:12:34.567', in seconds since the epoch; None if it is none."""
    for form in TIME_FORMATS:
        try:
            return datetime.strptime(text, form).timestamp()
        except ValueError:
            pass
    return None


def read_samples(path: Path) -> dict[str, list]:
    """One step's samples: `time` (seconds since the epoch) and each of `MEASURES` (None where not reported).
    Lines without a timestamp (the header, an error message, a line cut short by the kill) are left out."""
    samples: dict[str, list] = {"time": [], **{name: [] for name in MEASURES}}
    with path.open(newline="") as file:
        for row in csv.reader(file, skipinitialspace=True):
            seconds = timestamp(row[0]) if len(row) == len(QUERY) else None
            if seconds is None:
                continue
            samples["time"].append(seconds)
            for name, text in zip(MEASURES, row[1:]):
                samples[name].append(number(text))
    return samples


def read_steps(folder: Path) -> dict[str, dict[str, list]]:
    """The samples of each step of a results folder that has any (`logs/STEP.gpu.csv`), in the order they ran."""
    steps = {path.name.removesuffix(SUFFIX): read_samples(path) for path in (folder / "logs").glob(f"*{SUFFIX}")}
    return dict(sorted(((name, s) for name, s in steps.items() if s["time"]), key=lambda item: item[1]["time"][0]))


def working(samples: dict[str, list]) -> dict[str, list]:
    """The samples from the first to the last at least `WORKING_BUSY` % busy, the waits between them included:
    a step's start-up (loading, compiling) and its host-only end are not its loop waiting on the host."""
    busy = [i for i, value in enumerate(samples["busy"]) if value is not None and value >= WORKING_BUSY]
    span = slice(busy[0], busy[-1] + 1) if busy else slice(0)
    return {name: values[span] for name, values in samples.items()}


def decile(values: list[float]) -> float:
    """The 10th percentile (the value itself for a single sample)."""
    return statistics.quantiles(values, n=10, method="inclusive")[0] if len(values) > 1 else values[0]


def describe(values: list[float | None], form: str) -> str:
    """`form` filled from the known values' median, 10th percentile, min and max; n/a if none is known."""
    known = [value for value in values if value is not None]
    if not known:
        return "n/a"
    return form.format(median=statistics.median(known), decile=decile(known), min=min(known), max=max(known))


def gpu_section(folder: Path) -> list[str]:
    """A table of each step's samples; nothing where none were recorded (no NVIDIA GPU)."""
    steps = read_steps(folder)
    if not steps:
        return []
    lines = [f"## The GPU during each step (nvidia-smi every {INTERVAL_MS} ms: `logs/*{SUFFIX}`, plotted in "
             "`gpu.png`)", "",
             "Busy: the share of each interval in which a kernel ran. A loop that keeps the GPU waiting on the host "
             "shows it under 100 %; a GPU held down (power, heat) shows a lower SM clock at full busy. Busy, clock "
             f"and power are read while the step worked: from its first to its last sample at {WORKING_BUSY} % busy "
             "or more (start-up and compilation before, host-only work after, left out).", "",
             "| step | samples (while working) | busy %, median (10th percentile) | SM clock MHz, median (min-max) | "
             "power W, median (max) | temperature C, max |", "|---|---|---|---|---|---|"]
    for name, samples in steps.items():
        worked = working(samples)
        lines.append(f"| {name} | {len(samples['time'])} ({len(worked['time'])}) | "
                     f"{describe(worked['busy'], '{median:.0f} ({decile:.0f})')} | "
                     f"{describe(worked['sm_clock'], '{median:.0f} ({min:.0f}-{max:.0f})')} | "
                     f"{describe(worked['power'], '{median:.0f} ({max:.0f})')} | "
                     f"{describe(samples['temperature'], '{max:.0f}')} |")
    return lines + [""]


def plot_samples(folder: Path) -> Path | None:
    """`gpu.png`: busy share, SM clock and power against the run's time, one colour a step; None without samples."""
    steps = read_steps(folder)
    if not steps:
        return None
    # Imported here, not above: `--record` should start sampling as its step starts, not a second later.
    from model_card.plots import plt, save_figure

    start = next(iter(steps.values()))["time"][0]
    measures = ("busy", "sm_clock", "power")
    fig, axes = plt.subplots(len(measures), 1, figsize=(12, 8), sharex=True)
    for name, samples in steps.items():
        seconds = [t - start for t in samples["time"]]
        for ax, measure in zip(axes, measures):
            ax.plot(seconds, [float("nan") if v is None else v for v in samples[measure]], ".-", markersize=2,
                    label=name)
    for ax, measure in zip(axes, measures):
        ax.set_ylabel(MEASURES[measure])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("seconds since the first step started")
    fig.suptitle(f"{folder.name}: the GPU during each step of reproduce.sh")
    return save_figure(fig, folder / "gpu.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", type=Path, required=True, help="CSV file to write the samples into")
    record(parser.parse_args().record)
