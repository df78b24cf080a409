"""What the methods that change the loss cost per training step, against the step they build on (issue 36).

    python benchmarks/bench_step.py [--rounds 15] [--threads 1] [--bs 64]

A step is what a training loop does with a batch: mix it, the forward pass, the mixed loss, the backward pass and
the optimiser's step, all through fastmix's plain-PyTorch API (the callbacks run exactly this). Each pair is timed in
interleaved rounds (one call of each per round) and the median is reported, with the ratio to its base:

- Decoupled Mixup (`CutMix(1., decouple=.1)`) against `CutMix(1.)`, a small CNN at 32x32;
- RegMixup (`MixUp(20., regmix=1.)`: the clean batch and its mix, twice the rows) against `MixUp(20.)`, the same CNN;
- C-Mixup (`MixUp(.5, bandwidth=.5)`: partners drawn by a B×B kernel of the float targets) against `MixUp(.5)`, a
  regression MLP on 10 columns (the diabetes data's shape), where the mix is a larger share of the step;
- TransMix (`TransMix(1.)`, its attention hook and relabelling) against `CutMix(1.)`, the command's small ViT
  (`vit_p4_w96`, depth 4) at 32x32, if timm is installed.

This is a benchmark, not a test: it asserts nothing.
"""
import argparse, statistics, time, warnings
import torch
import torch.nn.functional as F
from torch import nn
from fastmix.methods import MixUp, CutMix, TransMix
from fastmix.attention import class_attention
from fastmix.demo import small_cnn

def step(mixer, model, x, y, loss_func, attention=False):
    "A closure making one training step of `model` on the batch mixed by `mixer`"
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    def run():
        xb, yb, m = mixer.mix((x,), (y,))
        if attention:
            with class_attention(model) as att: pred = model(*xb)
            m = att.relabel(m)
        else: pred = model(*xb)
        m.loss(loss_func, pred).backward()
        opt.step(); opt.zero_grad()
    return run

def pairs(bs:int)->dict:
    "name -> (the method's step, its base's step), each on its own copy of the model"
    torch.manual_seed(0)
    img, cls = torch.randn(bs, 3, 32, 32), torch.randint(0, 10, (bs,))
    tab, val = torch.randn(bs, 10), torch.randn(bs, 1)
    cnn = lambda: small_cnn(3, 10)
    mlp = lambda: nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))
    out = {
        'Decoupled Mixup vs CutMix(1)': (step(CutMix(1., decouple=.1), cnn(), img, cls, F.cross_entropy),
                                         step(CutMix(1.), cnn(), img, cls, F.cross_entropy)),
        'RegMixup vs MixUp(20)': (step(MixUp(20., regmix=1.), cnn(), img, cls, F.cross_entropy),
                                  step(MixUp(20.), cnn(), img, cls, F.cross_entropy)),
        'C-Mixup vs MixUp(0.5), regression MLP': (step(MixUp(.5, bandwidth=.5), mlp(), tab, val, F.mse_loss),
                                                  step(MixUp(.5), mlp(), tab, val, F.mse_loss)),
    }
    try:
        from fastmix.demo import small_vit
        vit = lambda: small_vit(3, 10, 32, 4, 96, 4)
        out['TransMix vs CutMix(1), small ViT'] = (step(TransMix(1.), vit(), img, cls, F.cross_entropy, attention=True),
                                                   step(CutMix(1.), vit(), img, cls, F.cross_entropy))
    except ImportError: pass
    return out

def main(rounds:int=15, threads:int=1, bs:int=64):
    torch.set_num_threads(threads)
    warnings.filterwarnings('ignore')
    print(f"one training step, median of {rounds} interleaved rounds, {threads} thread(s), batch {bs}, torch {torch.__version__}")
    print(f"{'method vs its base':42s} {'method ms':>10s} {'base ms':>9s} {'ratio':>6s}")
    for name, (a, b) in pairs(bs).items():
        a(); b(); a(); b()                                    # warm-up
        ta, tb = [], []
        for _ in range(rounds):
            for f, t in ((a, ta), (b, tb)):
                s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
        ma, mb = statistics.median(ta) * 1e3, statistics.median(tb) * 1e3
        print(f"{name:42s} {ma:10.2f} {mb:9.2f} {ma / mb:6.2f}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=15)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--bs', type=int, default=64)
    a = p.parse_args()
    main(a.rounds, a.threads, a.bs)
