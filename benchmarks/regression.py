"""C-Mixup on a regression set that ships with scikit-learn: validation RMSE of no mixing, MixUp and C-Mixup
(`MixUp(alpha, bandwidth=σ)`), over seeds, on `load_diabetes` (442 patients, 10 measurements, disease progression
a year on) with fastai's `tabular_learner`.

Each seed draws its own split (80% training, 20% validation) and its own initialisation, the same for every setting,
so the settings are compared pair by pair. The target is standardised on the training part; RMSE is reported in the
data set's own units. Runs take seconds each on a CPU.

    python benchmarks/regression.py                 # train what is not in the results file, print the table
    python benchmarks/regression.py --table         # print the table of the saved runs
"""
import argparse, json, math, statistics, sys, time, warnings
from pathlib import Path
import numpy as np
import torch

RESULTS = Path(__file__).parent/'results'/'diabetes.json'
ALPHA = .5
SETTINGS = {   # name -> the callback's arguments (None: no mixing)
    'none': None,
    'MixUp(0.5)': dict(),
    'C-Mixup(0.5, σ=0.2)': dict(bandwidth=.2),
    'C-Mixup(0.5, σ=0.5)': dict(bandwidth=.5),
    'C-Mixup(0.5, σ=1)': dict(bandwidth=1.),
}
EPOCHS, BS, LR, LAYERS = 30, 64, 1e-2, [64, 32]

def run(name:str, seed:int)->dict:
    "One training: the seed's split and initialisation, the setting's mixer; its validation RMSE in the target's units"
    from sklearn.datasets import load_diabetes
    from fastai.tabular.all import TabularDataLoaders, tabular_learner, Normalize, set_seed
    from fastmix.callbacks import MixUp
    d = load_diabetes(as_frame=True).frame
    rng = np.random.default_rng(seed)
    valid = sorted(rng.permutation(len(d))[:len(d) // 5].tolist())
    train = d.drop(index=valid)
    mu, sd = train['target'].mean(), train['target'].std()
    d['target'] = (d['target'] - mu) / sd
    set_seed(seed)
    dls = TabularDataLoaders.from_df(d, procs=[Normalize], cont_names=list(d.columns[:-1]), y_names='target', bs=BS,
                                     valid_idx=valid, device='cpu')
    args = SETTINGS[name]
    cbs = [] if args is None else [MixUp(ALPHA, **args)]
    learn = tabular_learner(dls, layers=LAYERS, cbs=cbs)
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(EPOCHS, LR)
        preds, targs = learn.get_preds()
    rmse = float(((preds - targs) ** 2).mean().sqrt()) * float(sd)
    return dict(setting=name, seed=seed, rmse=rmse, seconds=time.perf_counter() - t)

def load()->list: return json.loads(RESULTS.read_text()) if RESULTS.exists() else []

def table(runs:list)->str:
    "Mean ± std of the validation RMSE per setting, and each setting's paired difference from no mixing and from MixUp (± SE)"
    by = {}
    for r in runs: by.setdefault(r['setting'], {})[r['seed']] = r['rmse']
    def diff(name, base):
        d = [by[name][s] - by[base][s] for s in by[name] if s in by.get(base, {})]
        return '' if name == base or len(d) < 2 else f"{statistics.mean(d):+.2f} ± {statistics.stdev(d) / math.sqrt(len(d)):.2f}"
    lines = ['| setting | seeds | validation RMSE (mean ± std) | minus none, paired (± SE) | minus MixUp, paired (± SE) | s/run |',
             '|---|---|---|---|---|---|']
    for name in SETTINGS:
        if name not in by: continue
        v = list(by[name].values())
        sec = statistics.mean(r['seconds'] for r in runs if r['setting'] == name)
        mix = '' if name == 'none' else diff(name, 'MixUp(0.5)')
        lines.append(f"| {name} | {len(v)} | {statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:.2f} "
                     f"| {diff(name, 'none')} | {mix} | {sec:.1f} |")
    return '\n'.join(lines)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, default=10, help="seeds 0..N-1 of each setting (those in the results file are read back)")
    p.add_argument('--table', action='store_true', help="print the table of the saved runs and train nothing")
    a = p.parse_args(argv)
    warnings.filterwarnings('ignore')
    runs = load()
    if not a.table:
        done = {(r['setting'], r['seed']) for r in runs}
        for seed in range(a.seeds):
            for name in SETTINGS:
                if (name, seed) in done: continue
                runs.append(run(name, seed))
                print(f"{name}, seed {seed}: RMSE {runs[-1]['rmse']:.2f} ({runs[-1]['seconds']:.0f} s)", file=sys.stderr)
                RESULTS.parent.mkdir(exist_ok=True)
                RESULTS.write_text(json.dumps(runs, indent=1))
    print(table(runs))

if __name__ == '__main__': main()
