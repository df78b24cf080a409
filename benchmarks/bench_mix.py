"""Speed of mixing one batch (`mixer.mix`, what each callback's `before_batch` runs), as ratios to the memory floor.

    python benchmarks/bench_mix.py [--rounds 15] [--threads 2] [--device cpu]
                                   [--shapes 256x3x32x32,64x3x224x224] [--dtypes float32,bfloat16] [--alpha 1]
                                   [--keep-memory]

The floor is `x + y` on two ready batches (read two, write one): no mix can move less memory.
'MB faulted' is the median memory per call that the OS handed over fresh (page faults, zeroed by the
kernel): on the CPU a new batch-sized tensor costs this too, and at 64x3x224² it is most of the floor's time.
The anchors are timed beside ours where installed: fastai's own MixUp and CutMix, torchvision v2's
MixUp and CutMix (one λ and one box per batch) and timm's Mixup (mode 'batch' and 'elem'); and
`OneOfMix` choosing among MixUp, CutMix and FMix per sample (its cost should stay within FMix's alone);
ResizeMix, SaliencyMix (its saliency included), GridMix and SmoothMix, whose goal is at most 1.5x per-sample
CutMix's time at 224², and RandomMix (OneOfMix of MixUp, CutMix, ResizeMix and FMix). All methods are timed in interleaved rounds
(one call of each per round) and the median is reported, so the ratios compare like with like even
on a noisy machine. This is a benchmark, not a test: it asserts nothing.

`--keep-memory` (Linux with glibc) tells the allocator of this process never to hand freed memory back to
the OS (`mallopt`: no `mmap` below 1 GB, no trim below 1 GB), so that no call pays page faults: the times are
then the code's and the memory's alone. Which calls fault by default depends on the order and sizes of every
allocation the process made before (glibc moves its thresholds as it goes), so one method may fault in one
run and not in the next; the default is what a training process sees, this option what the code costs.
"""
import argparse, mmap, statistics, time, warnings
import torch
from torch import nn
from fastai.callback.mixup import MixUp as FastaiMixUp, CutMix as FastaiCutMix
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastmix.mixing import OneOfMix
from fastmix.methods import MixUp, CutMix, FMix, ResizeMix, SaliencyMix, GridMix, SmoothMix

def step(mixer, x, y):
    "A closure mixing the batch once with one of fastmix's mixers (the public per-batch API)"
    xb, yb = (x,), (y,)
    return lambda: mixer.mix(xb, yb)

def fastai_step(cb, x, y):
    "A closure running one `before_batch` of one of fastai's callbacks, on a real `Learner` holding the batch"
    learn = Learner(DataLoaders([], []), nn.Identity(), loss_func=CrossEntropyLossFlat(), cbs=cb)
    learn.training = True
    cb.before_train()                                        # fastai's sets `stack_y` there
    def run():
        learn.xb, learn.yb = (x,), (y,)
        cb.before_batch()
    return run

def torchvision_step(tf, x, y):
    "A closure calling a torchvision v2 batch transform (it returns a new batch and one-hot soft targets)"
    return lambda: tf(x, y)

def timm_step(mixup, x, y):
    "A closure calling timm's Mixup, which mixes the batch in place: on its own copy, so other methods see the same data"
    xt = x.clone()
    return lambda: mixup(xt, y)

def anchors(x, y, alpha=1.):
    "The other libraries' mixers that run on this batch, by name"
    out = {'fastai MixUp': fastai_step(FastaiMixUp(alpha), x, y), 'fastai CutMix (batch)': fastai_step(FastaiCutMix(alpha), x, y)}
    try:
        from torchvision.transforms import v2
        out['torchvision MixUp (batch)'] = torchvision_step(v2.MixUp(alpha=alpha, num_classes=10), x, y)
        out['torchvision CutMix (batch)'] = torchvision_step(v2.CutMix(alpha=alpha, num_classes=10), x, y)
    except ImportError: pass
    try:
        from timm.data import Mixup
        for mode in ('batch', 'elem'):
            out[f'timm Mixup ({mode})'] = timm_step(Mixup(mixup_alpha=alpha, mode=mode, num_classes=10, label_smoothing=0.), x, y)
    except ImportError: pass
    for k, f in list(out.items()):    # fastai's predate bf16 batches, timm's need an even batch: time what runs
        try: f()
        except (RuntimeError, AssertionError, TypeError): del out[k]
    return out

def sync(device):
    if device.startswith('cuda'): torch.cuda.synchronize()

def minor_faults()->int:
    "Page faults of this process so far that the kernel served without I/O (fresh pages it had to zero), where the OS counts them"
    try: import resource
    except ImportError: return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def bench(fns, rounds, device):
    "Median wall-clock ms of each function, median page faults per call, and on CUDA its device ms (kernels queued behind busy work)"
    for f in fns.values(): f(); f()
    times, dev, faults = {k: [] for k in fns}, {k: [] for k in fns}, {k: [] for k in fns}
    cuda = device.startswith('cuda')
    if cuda: busy = torch.randn(4096, 4096, device=device)
    for _ in range(rounds):
        for k, f in fns.items():
            sync(device); pf = minor_faults(); t = time.perf_counter(); f(); sync(device)
            times[k].append(time.perf_counter() - t); faults[k].append(minor_faults() - pf)
            if cuda:       # in training the GPU is busy while the CPU queues the mix: time what the GPU itself spends
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                for _ in range(20): busy @ busy
                s.record(); f(); e.record(); e.synchronize()
                dev[k].append(s.elapsed_time(e) / 1e3)
    med = lambda d, unit=1e3: {k: statistics.median(v) * unit for k, v in d.items() if v}
    return med(times), med(dev), med(faults, 1)

def keep_memory()->bool:
    "Ask glibc's allocator to keep freed memory in this process (no page faults for reused sizes); False where there is no glibc"
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError): return False

def main(rounds=15, threads=2, device='cpu', shapes='256x3x32x32,64x3x224x224', dtypes='float32', alpha=1., keep_memory_=False):
    warnings.filterwarnings('ignore')
    kept = keep_memory() if keep_memory_ else None
    torch.set_num_threads(threads)
    name = torch.cuda.get_device_name() if device.startswith('cuda') else f"{torch.get_num_threads()} CPU threads"
    print(f"torch {torch.__version__}, {name}, alpha {alpha:g}, median of {rounds} interleaved rounds"
          + ('' if kept is None else ', freed memory kept (no page faults)' if kept else ', --keep-memory: no glibc here, ignored'))
    for shape, dt in [(tuple(map(int, s.split('x'))), d) for s in shapes.split(',') for d in dtypes.split(',')]:
        dtype = getattr(torch, dt)
        x = torch.randn(shape, device=device, dtype=dtype); x2 = torch.randn(shape, device=device, dtype=dtype)
        y = torch.randint(0, 10, (shape[0],), device=device)
        fns = {'floor: x + y': lambda: x + x2,
               'MixUp': step(MixUp(alpha), x, y), 'CutMix': step(CutMix(alpha), x, y), 'FMix': step(FMix(alpha), x, y),
               'MixUp batch': step(MixUp(alpha, mode='batch'), x, y), 'CutMix batch': step(CutMix(alpha, mode='batch'), x, y),
               'FMix batch': step(FMix(alpha, mode='batch'), x, y),
               'OneOfMix (per sample)': step(OneOfMix(MixUp(alpha), CutMix(alpha), FMix(alpha)), x, y),
               'ResizeMix': step(ResizeMix(alpha), x, y), 'SaliencyMix': step(SaliencyMix(alpha), x, y),
               'GridMix': step(GridMix(alpha), x, y), 'SmoothMix': step(SmoothMix(alpha), x, y),
               'RandomMix (per sample)': step(OneOfMix(MixUp(alpha), CutMix(alpha), ResizeMix(alpha), FMix(alpha)), x, y)}
        fns.update(anchors(x, y, alpha))
        r, d, pf = bench(fns, rounds, device)
        floor = r['floor: x + y']
        print(f"\n{'x'.join(map(str, shape))} {dt}")
        print(f"  {'method':28s} {'ms':>9s} {'x floor':>8s} {'MB faulted':>10s}" + (f" {'device ms':>10s} {'x floor':>8s}" if d else ''))
        for k, v in r.items():
            print(f"  {k:28s} {v:9.2f} {v / floor:8.2f} {pf[k] * mmap.PAGESIZE / 1e6:10.1f}" + (f" {d[k]:10.3f} {d[k] / d['floor: x + y']:8.2f}" if d else ''))
        print(f"  OneOfMix / FMix: {r['OneOfMix (per sample)'] / r['FMix']:.2f}" + (
              f" (device: {d['OneOfMix (per sample)'] / d['FMix']:.2f})" if d else ''))
        print(f"  per sample / CutMix: " + ', '.join(f"{k} {r[k] / r['CutMix']:.2f}" for k in ('ResizeMix', 'SaliencyMix', 'GridMix', 'SmoothMix'))
              + (' (device: ' + ', '.join(f"{k} {d[k] / d['CutMix']:.2f}" for k in ('ResizeMix', 'SaliencyMix', 'GridMix', 'SmoothMix')) + ')' if d else ''))
        if 'torchvision CutMix (batch)' in r:
            tv = r['torchvision CutMix (batch)']
            print(f"  per sample / torchvision CutMix (batch): MixUp {r['MixUp'] / tv:.2f}, CutMix {r['CutMix'] / tv:.2f}, "
                  f"FMix {r['FMix'] / tv:.2f}; MixUp / torchvision MixUp (batch): {r['MixUp'] / r['torchvision MixUp (batch)']:.2f}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=15)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--shapes', default='256x3x32x32,64x3x224x224', help='comma-separated BxCxHxW')
    p.add_argument('--alpha', type=float, default=1., help='Beta(alpha, alpha) of every method (the CIFAR-10 recipe uses .2 for CutMix and FMix)')
    p.add_argument('--dtypes', default='float32', help='comma-separated torch dtypes, e.g. float32,bfloat16')
    p.add_argument('--keep-memory', dest='keep_memory_', action='store_true',
                   help="glibc keeps freed memory in the process: no call pays page faults (the code's cost alone)")
    main(**vars(p.parse_args()))
