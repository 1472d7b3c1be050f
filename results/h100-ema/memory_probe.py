# Run on the H100 after profile_probe.py, as an inline script (stdin), from the repository root:
#   PYTHONPATH=. python3 results/h100-ema/memory_probe.py > results/h100-ema/memory_probe.txt
# Are preprocessing and the host -> device copy slower on fresh (distinct) batches than on one reused batch?
import time, numpy as np, torch
from benchmarks.common import load_images
from modeling import FashionImageProcessor
proc = FashionImageProcessor.from_pretrained("results/h100-ema/model")
photos = load_images("cache/full", limit=4096).images
batches = [photos[i*512:(i+1)*512] for i in range(8)]
def ms(f, n=8):
    torch.cuda.synchronize(); t=time.perf_counter()
    for i in range(n): f(i)
    torch.cuda.synchronize(); return (time.perf_counter()-t)/n*1e3
pre = lambda b: proc(b, do_normalize=False, channels_last=True, return_tensors="pt")["pixel_values"]
for rep in range(2):
    print("preprocess same batch", ms(lambda i: pre(batches[0])))
    print("preprocess distinct batches", ms(lambda i: pre(batches[i])))
    print("asarray same", ms(lambda i: [np.asarray(p) for p in batches[0]]))
    print("asarray distinct", ms(lambda i: [np.asarray(p) for p in batches[i]]))
    kept = [pre(b) for b in batches]
    print("h2d same", ms(lambda i: kept[0].to("cuda")))
    print("h2d distinct kept", ms(lambda i: kept[i].to("cuda")))
    print("h2d fresh (preprocess+h2d) - preprocess", ms(lambda i: pre(batches[i]).to("cuda")) - ms(lambda i: pre(batches[i])))
    print("pin+h2d fresh", ms(lambda i: kept[i].pin_memory().to("cuda", non_blocking=True)))
    print("np.empty+fill 7.4MB", ms(lambda i: np.empty((512,80,60,3),np.uint8).fill(1)))
