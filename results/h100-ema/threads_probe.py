# Run on the H100 after memory_probe.py, as an inline script (stdin), from the repository root:
#   PYTHONPATH=. python3 results/h100-ema/threads_probe.py > results/h100-ema/threads_probe.txt
# Does the main process's torch thread count (16 by default there) slow the pipeline's host work?
import itertools, tempfile, time, torch, importlib.util
from pathlib import Path
spec = importlib.util.spec_from_file_location("probe", "results/h100-ema/pipeline_probe.py"); probe = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe)
from benchmarks.common import load_images, load_pipeline
clf = load_pipeline(probe.random_weight_folder(Path(tempfile.mkdtemp()) / "m"), torch.device("cuda"))
photos = load_images("cache/full", limit=4096).images
images = list(itertools.islice(itertools.cycle(photos), 8192))
for threads in (torch.get_num_threads(), 1):
    torch.set_num_threads(threads)
    for workers in (0, 8):
        clf(images[:1024], batch_size=512, num_workers=workers)
        t = time.perf_counter(); clf(images, batch_size=512, num_workers=workers); dt = time.perf_counter() - t
        print(f"threads {threads} workers {workers}: {len(images)/dt:,.0f} img/s", flush=True)
