"""CIFAR-10 through the `fastmix` command's code: the published protocol (`--scale full`, for a GPU) or a
CPU-scale version of it, and an ablation only fastmix can run (FMix's spectrum as the reference implementation
draws it against fastmix's isotropic one; per-batch against per-sample masks).

    python benchmarks/cifar10.py --scale cpu --out runs/cifar-cpu               # about an hour on 2 CPU cores
    python benchmarks/cifar10.py --scale full --out runs/cifar --budget 540      # on a GPU, in resumable pieces
    python benchmarks/cifar10.py --scale full --out runs/cifar --resume          # ... until it prints the table

The data is read from `--data` (a folder in fastai's CIFAR layout, `train/` and `test/`) or extracted from
`../shared/data/cifar10.tar.gz` into a temporary folder; without either the script says so and exits 0.
Each method uses the anchor's alpha (OpenMixup: MixUp 1, CutMix 0.2, FMix 0.2).
"""
import argparse, json, statistics, sys, tarfile, tempfile
from pathlib import Path
import torch
from fastmix.callbacks import MixUp, CutMix, FMix
from fastmix.masks import threshold_masks
from fastmix.cli import compare, Paused

SHARED = Path(__file__).resolve().parents[2]/'shared'/'data'/'cifar10.tar.gz'

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

MAIN = {'none': lambda: None, 'MixUp(1)': lambda: MixUp(1.), 'CutMix(0.2)': lambda: CutMix(.2), 'FMix(0.2)': lambda: FMix(.2)}
ABLATION = {'FMix(0.2) reference spectrum': lambda: ReferenceFMix(.2), 'FMix(0.2) per batch': lambda: FMix(.2, mode='batch')}

# full: the published protocol; cpu: 10,000 training images (stratified), a quarter-width ResNet-18, 15 epochs,
# the same optimiser, schedule and augmentation: it fits about an hour on 2 CPU cores
SCALES = {'full': dict(preset='cifar10'),
          'cpu': dict(preset='cifar10', arch='cifar_resnet18_w16', epochs=15, limit=10_000)}

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--scale', choices=SCALES, default='cpu')
    p.add_argument('--settings', choices=('main', 'ablation', 'all'), default='all')
    p.add_argument('--seeds', type=int, default=1)
    p.add_argument('--epochs', type=int, default=None, help="override the scale's epochs")
    p.add_argument('--data', default=None, help="a CIFAR folder (train/ and test/); default: extract ../shared/data/cifar10.tar.gz")
    p.add_argument('--out', required=True)
    p.add_argument('--budget', type=float, default=None)
    p.add_argument('--resume', action='store_true')
    a = p.parse_args()
    fns = {**(MAIN if a.settings != 'ablation' else {'none': MAIN['none']}), **(ABLATION if a.settings != 'main' else {})}
    kw = dict(SCALES[a.scale], seeds=a.seeds, out=a.out, budget=a.budget, resume=a.resume, quiet=True, setting_fns=fns)
    if a.epochs: kw['epochs'] = a.epochs
    with tempfile.TemporaryDirectory() as tmp:
        data = a.data
        if data is None:
            if not SHARED.exists(): print(f"cifar10: no --data and no {SHARED}: nothing to do"); return
            with tarfile.open(SHARED) as t: t.extractall(tmp, filter='data')
            data = str(Path(tmp)/'cifar10')
        try: rows = compare(data=data, **kw)
        except Paused as e:
            print(f"cifar10: stopped at --budget ({e}); run again with --resume"); sys.exit(3)
    runs = json.loads((Path(a.out)/'results.json').read_text())['runs']
    print('\nper seed: final, median of the last 10 epochs, NLL, ECE')
    for name, rs in runs.items():
        for r in rs:
            print(f"  {name:<30} seed {r['seed']}  {r['valid_acc']:.4f}  {r['last10_acc']:.4f}  {r['valid_nll']:.4f}  {r['valid_ece']:.4f}")

if __name__ == '__main__': main()
