"""Draw the README's pictures: mixed batches (CutMix and FMix; ResizeMix, SaliencyMix, GridMix and SmoothMix) and an FMix mask gallery, as PNG files.

    python tools/pictures.py [--out nbs/images]

They are made from data that ship with scikit-learn (two photos), with fixed seeds, through
fastmix's public viewer (`fastmix.show`), and committed so that the README shows them.
"""
import argparse, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
from fastai.vision.all import set_seed
from fastmix.callbacks import CutMix, FMix, ResizeMix, SaliencyMix, GridMix, SmoothMix
from fastmix.demo import photo_dls
from fastmix.show import show_mixed, mask_gallery

def main(out='nbs/images'):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    set_seed(1)
    dls = photo_dls(bs=8, device='cpu')
    fig, axs = plt.subplots(2, 4, figsize=(10, 5.6))
    for row, cb in zip(axs, (CutMix(), FMix())):
        show_mixed(dls, cb=cb, max_n=4, ctxs=row, outline=True)
        row[0].text(-12, 64, type(cb).__name__, rotation=90, va='center', ha='right', fontsize=11)
    fig.tight_layout(); fig.savefig(out/'mixed_batch.png', dpi=72); plt.close(fig)
    set_seed(1)
    fig, axs = plt.subplots(4, 4, figsize=(8, 8.4))
    for row, cb in zip(axs, (ResizeMix(), SaliencyMix(), GridMix(), SmoothMix())):
        show_mixed(dls, cb=cb, max_n=4, ctxs=row, outline=cb.hard_masks)
        row[0].text(-12, 64, type(cb).__name__, rotation=90, va='center', ha='right', fontsize=11)
    fig.tight_layout(); fig.savefig(out/'more_methods.png', dpi=72); plt.close(fig)
    fig = mask_gallery('fmix', decay_powers=(1, 3, 5), spatial=(64, 64), figsize=(10, 5.4))
    fig.savefig(out/'fmix_masks.png', dpi=72); plt.close(fig)
    return sorted(out.glob('*.png'))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='nbs/images')
    for f in main(**vars(p.parse_args())): print(f, f.stat().st_size, 'bytes')
