"""CIFAR-10 through the `fastmix` command's code: where mixing is meant to work (`--scale overfit`: 2,000 training
images, 80 epochs, on this CPU), the published protocol (`--scale full`, for a GPU), the old 15-epoch CPU table
(`--scale cpu`, an underfit regime), and an ablation only fastmix can run (FMix's spectrum as the reference
implementation draws it against fastmix's isotropic one; per-batch against per-sample masks).

    python benchmarks/cifar10.py --settings none,CutMix(0.2) --seeds 3 --budget 3000   # trains what is not in --runs yet
    python benchmarks/cifar10.py --table                                               # the table of what is there
    python benchmarks/cifar10.py --table --brief                                       # the README's shorter one
    python benchmarks/cifar10.py --ablation                                            # each difference from the anchors, paired by seed
    python benchmarks/cifar10.py --scale vit                                           # none, CutMix(1), TransMix(1) on a small ViT
    python benchmarks/cifar10.py --scale full --runs runs/cifar --budget 540           # on a GPU, in resumable pieces

Every finished run leaves a small JSON file in `--runs` (default `benchmarks/results/cifar10-SCALE`, committed), and
the runs already there are read back, not trained again: the table grows run by run and seed by seed. The data is
read from `--data` (a folder in fastai's CIFAR layout, `train/` and `test/`) or extracted once from
`../shared/data/cifar10.tar.gz` into a folder of the system's temporary directory; without either the script
says so and exits 0.
"""
import argparse, math, statistics, sys, tarfile, tempfile
from pathlib import Path
import torch
from functools import partial
from fastmix.callbacks import MixUp, CutMix, FMix, ResizeMix, SmoothMix, OneOfMix, as_callback
from fastmix.mixing import METHODS
from fastmix.manifold import ManifoldMix
from fastmix.masks import threshold_masks
from fastmix.cli import compare
from fastmix.comparison import Paused
from fastmix.comparison import load_runs, COLUMNS, Column

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'data'/'cifar10.tar.gz'

def reference_low_freq_images(n:int, spatial:tuple, decay_power:float=3., device=None)->torch.Tensor:
    "Low-frequency images as the reference FMix code draws them (2-D), its indexing of the spectrum included"
    h, w = spatial
    fy = torch.fft.fftfreq(h, device=device)[:, None]
    fx = torch.fft.fftfreq(w, device=device)[: w // 2 + (2 if w % 2 else 1)]
    f = (fx ** 2 + fy ** 2).sqrt()
    scale = f.clamp(min=1 / max(h, w)) ** -decay_power
    spec = scale[None, :, :, None] * torch.randn(n, h, f.shape[1], 2, device=device)
    # the reference writes spectrum[:, 0] + 1j * spectrum[:, 1]: frequency rows 0 and 1, not the real and imaginary
    # parts, so along the last axis only frequencies 0 and 1 survive (stripes)
    return torch.fft.irfftn(torch.complex(spec[:, 0], spec[:, 1]), s=(h, w), dim=(-2, -1))

class ReferenceFMix(FMix):
    "FMix with the reference implementation's spectrum: benchmark only, not part of fastmix's API"
    def draw_masks(self, lam, spatial, dtype):
        return threshold_masks(reference_low_freq_images(len(lam), spatial, self.decay_power, lam.device), lam, self.max_soft, dtype)

# each method at the anchor's alpha (OpenMixup's CIFAR tables) and, where that differs, at alpha 1. ManifoldMix mixes at
# the input or after the CIFAR ResNet's first or second stage (its modules '4' and '6'), as in the paper.
ALPHAS = dict(mixup=(1.,), cutmix=(.2, 1.), fmix=(.2, 1.), resizemix=(1.,), saliencymix=(.2, 1.), gridmix=(.2, 1.), smoothmix=(.5, 1.))
SETTINGS = {
    'none': lambda: None,
    **{f"{METHODS[k].__name__}({a:g})": partial(as_callback(k), a) for k, alphas in ALPHAS.items() for a in alphas},   # the registry's names
    # SmoothMix before the third week's fix: the border clips the blob, so λ averages about 0.72 whatever α
    'SmoothMix(0.5) unclipped': lambda: SmoothMix(.5, sizing='unclipped'), 'SmoothMix(1) unclipped': lambda: SmoothMix(1., sizing='unclipped'),
    'RandomMix': lambda: OneOfMix(MixUp(1.), CutMix(.2), ResizeMix(1.), FMix(.2)),
    'ManifoldMix(2)': lambda: ManifoldMix(2., modules=['input', '4', '6']),
    'FMix(0.2) reference spectrum': lambda: ReferenceFMix(.2),
    'FMix(0.2) per batch': lambda: FMix(.2, mode='batch'),
    'CutMix(0.2) per batch': lambda: CutMix(.2, mode='batch'),
    'CutMix(1) max_lam': lambda: CutMix(1., max_lam=True), 'FMix(1) max_lam': lambda: FMix(1., max_lam=True),
    # Decoupled Mixup (issue 36) at the η of OpenMixup's CIFAR configurations
    'CutMix(0.2) decoupled': lambda: CutMix(.2, decouple=.1), 'MixUp(1) decoupled': lambda: MixUp(1., decouple=.1),
    # RegMixup (issue 36) at the α OpenOOD's CIFAR-10 script trains it with, and the paper's η = 1
    'RegMixup(20)': lambda: MixUp(20., regmix=1.),
    # TransMix (issue 36): CutMix's boxes, λ from a ViT's class-token attention; only for --scale vit (it needs a class token)
    'TransMix(1)': lambda: as_callback('transmix')(1.),
}
GROUPS = {'main': ['none', 'MixUp(1)', 'CutMix(0.2)', 'FMix(0.2)'],
          'ablation': ['none', 'FMix(0.2) reference spectrum', 'FMix(0.2) per batch', 'CutMix(0.2) per batch',
                       'CutMix(1) max_lam', 'FMix(1) max_lam'],
          'loss': ['none', 'MixUp(1)', 'CutMix(0.2)', 'CutMix(0.2) decoupled', 'MixUp(1) decoupled', 'RegMixup(20)'],
          'vit': ['none', 'CutMix(1)', 'TransMix(1)'],
          'all': [k for k in SETTINGS if k != 'TransMix(1)']}     # the settings any model can train

# overfit: 2,000 training images (stratified), a quarter-width ResNet-18, 80 epochs: the unmixed model fits its training set
#   and its validation loss rises, the regime mixing is for. Validated on a fixed stratified 1,000 of the 10,000 test
#   images in the first 70 epochs and on all of them in the last 10 (the final figures and the median of the last 10).
# full: the published protocol (200 epochs, full width, all the data), for a GPU.
# cpu: 10,000 training images, 15 epochs: an underfit regime, where the plain model has not fit its training set yet.
# vit: the overfit protocol's data and length with a small ViT (4-pixel patches, width 96, 6 blocks, a class token: what
#   TransMix needs), trained as ViTs are (AdamW, lr 1e-3, weight decay 0.05, cosine).
SCALES = {'overfit': dict(preset='cifar10', arch='cifar_resnet18_w16', epochs=80, limit=2000, valid_part=1000),
          'vit': dict(preset='cifar10', arch='vit_p4_w96', epochs=80, limit=2000, valid_part=1000, opt='adam', lr=1e-3, wd=.05),
          'full': dict(preset='cifar10'),
          'cpu': dict(preset='cifar10', arch='cifar_resnet18_w16', epochs=15, limit=10_000)}

def setting_names(spec:str)->list:
    "Setting names from a comma-separated list of names and groups ('main', 'ablation', 'loss', 'vit', 'all')"
    names = []
    for part in (p.strip() for p in spec.split(',') if p.strip()):
        got = GROUPS.get(part, [part])
        bad = [g for g in got if g not in SETTINGS]
        if bad: raise SystemExit(f"cifar10: --settings: no setting {bad[0]!r}; the settings are {', '.join(SETTINGS)} and the groups {', '.join(GROUPS)}")
        names += [g for g in got if g not in names]
    return names

def binomial_se(p:float, n:int)->float:
    "The standard error of an accuracy `p` measured on `n` independent test images"
    return math.sqrt(p * (1 - p) / n)

_COL = {c.key: c for c in COLUMNS}
def _mean(rs:list, key:str)->float: return _COL.get(key, Column(key)).of(rs)    # seeds combined as the command's table combines them

def table(runs:dict)->str:
    "The runs (`load_runs`) as a Markdown table: accuracy on the whole test set (mean ± std over seeds, and one run's binomial error), then the rest"
    head = ('| setting | seeds | accuracy | ± binomial | median of last 10 | NLL | ECE | occluded | train loss | s/epoch |\n'
            '|---|---|---|---|---|---|---|---|---|---|')
    lines = [head]
    for name, rs in runs.items():
        acc = [r['valid_acc'] for r in rs]
        m = lambda k: _mean(rs, k)
        spread = f" ± {100 * statistics.stdev(acc):.2f}" if len(rs) > 1 else ''
        lines.append(f"| {name} | {len(rs)} | {100 * m('valid_acc'):.2f}{spread} | {100 * binomial_se(m('valid_acc'), rs[0]['n_valid']):.2f} "
                     f"| {100 * m('last10_acc'):.2f} | {m('valid_nll'):.3f} | {m('valid_ece'):.3f} | {100 * m('occluded_acc'):.2f} "
                     f"| {statistics.mean(r['train_loss_curve'][-1] for r in rs):.3f} | {m('s_per_epoch'):.1f} |")
    return '\n'.join(lines)

def brief_table(runs:dict)->str:
    "The README's table: accuracy (mean ± std over seeds) and its lead over no mixing (same label noise, same seeds), NLL, ECE, occluded accuracy, s/epoch"
    lines = ['| setting | seeds | accuracy, % | vs none, same seeds | NLL | ECE | occluded, % | s/epoch |', '|---|---|---|---|---|---|---|---|']
    for name, rs in runs.items():
        acc = [100 * r['valid_acc'] for r in rs]
        spread = f" ± {statistics.stdev(acc):.1f}" if len(rs) > 1 else ''
        base = next((v for v in runs.values() if v[0]['setting'] == 'none' and v[0]['label_noise'] == rs[0]['label_noise']), None)
        paired = [] if base is None or rs is base else [100 * (r['valid_acc'] - b['valid_acc']) for r in rs for b in base if b['seed'] == r['seed']]
        lead = f"{statistics.mean(paired):+.1f}" if paired else ''           # over the seeds both have: seed spread is larger than most leads
        lines.append(f"| {name} | {len(rs)} | {statistics.mean(acc):.1f}{spread} | {lead} | {_mean(rs, 'valid_nll'):.2f} "
                     f"| {_mean(rs, 'valid_ece'):.3f} | {100 * _mean(rs, 'occluded_acc'):.1f} | {_mean(rs, 's_per_epoch'):.1f} |")
    return '\n'.join(lines)

# each of the ways fastmix's defaults differ from the anchors (issue 34), as a setting and the default it is measured against
ABLATION = {'FMix(0.2) reference spectrum': 'FMix(0.2)', 'FMix(0.2) per batch': 'FMix(0.2)', 'CutMix(0.2) per batch': 'CutMix(0.2)',
            'CutMix(1) max_lam': 'CutMix(1)', 'FMix(1) max_lam': 'FMix(1)', 'SmoothMix(0.5)': 'SmoothMix(0.5) unclipped',
            'CutMix(0.2) decoupled': 'CutMix(0.2)', 'MixUp(1) decoupled': 'MixUp(1)'}   # and Decoupled Mixup against its mixer

def paired(a:list, b:list)->list:
    "Accuracy differences a - b in points, over the seeds both runs have"
    by = {r['seed']: r['valid_acc'] for r in b}
    return [100 * (r['valid_acc'] - by[r['seed']]) for r in a if r['seed'] in by]

def lead_text(d:list)->str:
    "Mean ± the standard error of paired differences (SE: their std over the square root of their number)"
    if not d: return ''
    return f"{statistics.mean(d):+.1f}" + (f" ± {statistics.stdev(d) / math.sqrt(len(d)):.1f}" if len(d) > 1 else '')

def verdict(d:list)->str:
    "Better or worse where the paired mean is more than twice its standard error from 0, else no difference shown"
    if len(d) < 2: return 'one seed: no verdict'
    m, se = statistics.mean(d), statistics.stdev(d) / math.sqrt(len(d))
    return 'better' if m > 2 * se else 'worse' if m < -2 * se else 'no difference shown'

def ablation_table(runs:dict)->str:
    "Each ablation setting against the default it changes, and against no mixing, paired by seed (clean labels)"
    lines = ['| setting | against | seeds | lead over it, points (± SE) | verdict | lead over none (± SE) |', '|---|---|---|---|---|---|']
    for name, base in ABLATION.items():
        if name not in runs or base not in runs: continue
        d, dn = paired(runs[name], runs[base]), paired(runs[name], runs.get('none', []))
        lines.append(f"| {name} | {base} | {len(d)} | {lead_text(d)} | {verdict(d)} | {lead_text(dn)} |")
    return '\n'.join(lines)

def cifar_folder(data:str|None)->Path|None:
    "--data, or the shared archive extracted once into the temporary directory; None when neither is there"
    if data is not None: return Path(data)
    if not SHARED.exists(): return None
    dest = Path(tempfile.gettempdir())/'fastmix-cifar10'
    if not (dest/'cifar10'/'test').is_dir():
        part = Path(tempfile.mkdtemp(dir=tempfile.gettempdir()))
        with tarfile.open(SHARED) as t: t.extractall(part, filter='data')
        dest.mkdir(exist_ok=True); (part/'cifar10').rename(dest/'cifar10')
    return dest/'cifar10'

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--scale', choices=SCALES, default='overfit')
    p.add_argument('--settings', default=None, help="comma-separated names and groups (main, ablation, loss, vit, all); default: main (vit with --scale vit), and all for --table")
    p.add_argument('--seeds', type=int, default=1, help="seeds 0..N-1 of each setting (those already in --runs are read back)")
    p.add_argument('--noise', type=float, default=0., help="share of the training labels to corrupt")
    p.add_argument('--epochs', type=int, default=None, help="override the scale's epochs")
    p.add_argument('--data', default=None, help="a CIFAR folder (train/ and test/); default: extract ../shared/data/cifar10.tar.gz")
    p.add_argument('--runs', default=None, help="the folder of the runs' results (default benchmarks/results/cifar10-SCALE)")
    p.add_argument('--budget', type=float, default=None, help="stop at the first epoch end after this many seconds (resumable)")
    p.add_argument('--table', action='store_true', help="print the table of the runs in --runs and train nothing")
    p.add_argument('--brief', action='store_true', help="with --table: the README's shorter table, with each setting's lead over no mixing")
    p.add_argument('--ablation', action='store_true', help="print each ablation setting against the default it changes, paired by seed, and train nothing")
    a = p.parse_args(argv)
    if a.brief and not a.table: p.error("--brief goes with --table: it chooses which table --table prints")
    runs_path = Path(a.runs or ROOT/'benchmarks'/'results'/f'cifar10-{a.scale}')
    names = setting_names(a.settings or ('vit' if a.scale == 'vit' else 'all' if a.table else 'main'))
    if a.ablation:
        runs = load_runs(runs_path, setting_names('all'))
        print(ablation_table(runs)); return
    if a.table:
        runs = load_runs(runs_path, names)
        print((brief_table if a.brief else table)(runs) if runs else f"cifar10: no finished runs in {runs_path}"); return
    data = cifar_folder(a.data)
    if data is None: print(f"cifar10: no --data and no {SHARED}: nothing to do"); return
    kw = dict(SCALES[a.scale], seeds=a.seeds, runs=str(runs_path), budget=a.budget, quiet=True, label_noise=str(a.noise),
              setting_fns={k: SETTINGS[k] for k in names})
    if a.epochs: kw['epochs'] = a.epochs
    try: compare(data=str(data), **kw)
    except Paused as e: print(f"cifar10: stopped at --budget ({e}); the same command goes on"); sys.exit(3)
    print('\n' + table(load_runs(runs_path, names)))

if __name__ == '__main__': main()
