# One-off probe, run on the lent H100 right after the h100-80x60 run (output: eager_probe.txt): is ResNet-50
# training there bound by the GPU or by the host? Eager steps at several input sizes and batches.
#   python3 results/h100/eager_probe.py
import time, torch, timm
def t(h,w,bench,bs=512,compile_=False):
    torch.backends.cudnn.benchmark=bench
    m=timm.create_model("resnet50",num_classes=91).cuda().to(memory_format=torch.channels_last)
    f=torch.compile(m) if compile_ else m
    o=torch.optim.AdamW(m.parameters(),lr=1e-3)
    x=torch.randn(bs,3,h,w,device="cuda").contiguous(memory_format=torch.channels_last); y=torch.randint(0,91,(bs,),device="cuda")
    def s():
        with torch.autocast("cuda",dtype=torch.bfloat16): l=torch.nn.functional.cross_entropy(f(x).float(),y)
        l.backward(); o.step(); o.zero_grad(set_to_none=True)
    for _ in range(8): s()
    torch.cuda.synchronize(); a=time.perf_counter()
    for _ in range(20): s()
    torch.cuda.synchronize(); d=(time.perf_counter()-a)/20
    # forward+backward only, no optimizer
    a=time.perf_counter()
    for _ in range(20):
        with torch.autocast("cuda",dtype=torch.bfloat16): l=torch.nn.functional.cross_entropy(f(x).float(),y)
        l.backward()
    torch.cuda.synchronize(); e=(time.perf_counter()-a)/20
    print(f"{h}x{w} bs{bs} cudnn.benchmark={bench} compile={compile_}: step {d*1e3:.1f} ms ({bs/d:,.0f} img/s); fwd+bwd only {e*1e3:.1f} ms",flush=True)
t(160,120,False); t(160,120,True); t(80,60,True); t(160,120,True,1024); t(224,224,True,256)
