"""Seconds per training epoch with each mixing callback against none: same model, same data, one run.

    python benchmarks/bench_epoch.py [--size 64] [--rounds 3] [--threads 2]

The small CNN of the `fastmix` command on scikit-learn's digits upscaled to `--size`, one epoch of
`fit` per setting per round, the settings interleaved within each round so that they share the
machine's state; the median over rounds is reported with its overhead over no mixing. Target (issue
4): a callback adds at most 5% to an epoch at 64x64 on CPU. A benchmark: it asserts nothing.
"""
import argparse, statistics, time, warnings
warnings.filterwarnings('ignore')
import torch
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix
from fastmix.demo import digits_dls
from fastmix.comparison import make_learner

SETTINGS = {'none': lambda: None, 'MixUp': MixUp, 'CutMix': CutMix, 'FMix': FMix,
            'FMix batch': lambda: FMix(mode='batch'), 'OneOfMix': lambda: OneOfMix(MixUp(), CutMix(), FMix())}

def epoch_times(learners:dict, rounds:int)->dict:
    "Seconds of one `fit` epoch per learner per round, the learners interleaved within each round, after a warm-up epoch each"
    for l in learners.values():
        with l.no_bar(), l.no_logging(): l.fit(1, 1e-3)                       # warm-up
    times = {k: [] for k in learners}
    for _ in range(rounds):
        for k, l in learners.items():
            with l.no_bar(), l.no_logging():
                t = time.perf_counter(); l.fit(1, 1e-3); times[k].append(time.perf_counter() - t)
    return times

def main(size=64, rounds=3, threads=2, bs=64):
    torch.set_num_threads(threads)
    dls = digits_dls(size, bs)
    learners = {k: make_learner(dls, cbs=f()) for k, f in SETTINGS.items()}
    print(f"torch {torch.__version__}, {threads} threads; {len(dls.train_ds)} digits at {size}x{size}, bs {bs}, "
          f"{len(dls.train)} batches per epoch; median of {rounds} interleaved rounds")
    times = epoch_times(learners, rounds)
    base = statistics.median(times['none'])
    print(f"  {'setting':12s} {'s/epoch':>8s} {'overhead':>9s}")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"  {k:12s} {m:8.2f} {100 * (m / base - 1):+8.1f}%")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--bs', type=int, default=64)
    main(**vars(p.parse_args()))
