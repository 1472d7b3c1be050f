# Run on the H100 after pipeline_probe.py, as an inline script (stdin), from the repository root:
#   PYTHONPATH=. python3 results/h100-ema/profile_probe.py > results/h100-ema/profile_probe.txt
# One pipeline call (8,192 images, no workers) timed, then again under cProfile.
import cProfile, pstats, itertools, tempfile, time, torch
from pathlib import Path
import importlib.util
spec = importlib.util.spec_from_file_location("probe", "results/h100-ema/pipeline_probe.py"); probe = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe)
from benchmarks.common import load_images, load_pipeline
clf = load_pipeline(probe.random_weight_folder(Path(tempfile.mkdtemp()) / "m"), torch.device("cuda"))
photos = load_images("cache/full", limit=4096).images
images = list(itertools.islice(itertools.cycle(photos), 8192))
clf(images[:1024], batch_size=512)
t = time.perf_counter(); clf(images, batch_size=512); print("plain", len(images) / (time.perf_counter() - t))
cProfile.run("clf(images, batch_size=512)", "/tmp/p")
pstats.Stats("/tmp/p").sort_stats("tottime").print_stats(25)
pstats.Stats("/tmp/p").sort_stats("cumulative").print_stats(30)
