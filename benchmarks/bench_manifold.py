"""Seconds per training epoch with ManifoldMix against input MixUp and no mixing: the cost of the hook.

    python benchmarks/bench_manifold.py [--size 32] [--rounds 3] [--threads 2]

fastai's vision_learner with a torchvision ResNet-18 (pretrained=False) on scikit-learn's digits at
`--size`, the command's data path (tensors on the device), one epoch of `fit` per setting per round,
the settings interleaved within each round so that they share the machine's state. ManifoldMix runs at
a fixed place each time ('input': the same work as input MixUp, through the hook; a stage: mixing a
feature map, with and without an FMix mask) so that the numbers compare like with like. The median over
rounds is reported with its overhead over no mixing. A benchmark: it asserts nothing.
"""
import argparse, statistics, time, warnings
warnings.filterwarnings('ignore')
import torch
from fastai.vision.learner import vision_learner
from torchvision.models import resnet18
from fastmix.callbacks import MixUp
from fastmix.methods import FMix
from fastmix.manifold import ManifoldMix
from fastmix.data import digits_arrays
from fastmix.data import tensor_dls
from bench_epoch import epoch_times                 # this folder: python puts a script's own folder on the path

SETTINGS = {'none': lambda: None, 'MixUp (input)': lambda: MixUp(2., max_lam=False),
            "ManifoldMix at 'input'": lambda: ManifoldMix(2., modules=['input']),
            'ManifoldMix at layer2 (0.5)': lambda: ManifoldMix(2., modules=['0.5']),
            'ManifoldMix FMix at layer2': lambda: ManifoldMix(mask=FMix(2.), modules=['0.5'])}

def main(size=32, rounds=3, threads=2, bs=64):
    torch.set_num_threads(threads)
    train, valid, vocab = digits_arrays(size)
    dls = tensor_dls(train, valid, vocab, bs=bs, device='cpu', seed=0)
    learners = {k: vision_learner(dls, resnet18, pretrained=False, n_in=1, cbs=f()) for k, f in SETTINGS.items()}
    print(f"torch {torch.__version__}, {threads} threads; ResNet-18 on {len(dls.train_ds)} digits at {size}x{size}, bs {bs}, "
          f"{len(dls.train)} batches per epoch; median of {rounds} interleaved rounds")
    times = epoch_times(learners, rounds)
    base = statistics.median(times['none'])
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"{k:<30} {m:6.2f} s/epoch  {100 * (m / base - 1):+6.1f}%  (rounds: {', '.join(f'{t:.2f}' for t in ts)})")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, default=32); p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--bs', type=int, default=64)
    main(**vars(p.parse_args()))
