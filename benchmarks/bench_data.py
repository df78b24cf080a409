"""The command's data path (images decoded once into a uint8 tensor, batches cut, cropped, flipped and
normalised on the device) against fastai's usual per-item pipeline, on CIFAR-10 images: seconds to
iterate one training epoch, no model.

    python benchmarks/bench_data.py [--n 10000] [--threads 2] [--device cpu]

Reads `../shared/data/cifar10.tar.gz` (extracted to a temporary folder); without it, says so and exits.
fastai's pipeline: `DataBlock(ImageBlock, CategoryBlock)` with `Resize(32)` and `Normalize` and no
augmentation, so the per-item pipeline is timed at its cheapest, while ours also crops and flips.
A benchmark: it asserts nothing.
"""
import argparse, random, tarfile, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch

SHARED = Path(__file__).resolve().parents[2]/'shared'/'data'/'cifar10.tar.gz'

def epoch_seconds(dl)->float:
    t = time.perf_counter()
    for xb, yb in dl: pass
    if xb.device.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t

def main(n=10_000, threads=2, device='cpu'):
    torch.set_num_threads(threads)
    if not SHARED.exists(): print(f"bench_data: {SHARED} is missing: nothing to measure"); return
    from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, parent_label, IndexSplitter, Resize, Normalize
    from fastmix.data import folder_arrays
    from fastmix.data import tensor_dls
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(SHARED) as t: t.extractall(tmp, filter='data')
        root = Path(tmp)/'cifar10'
        t = time.perf_counter()
        train, valid, vocab = folder_arrays(root, 32, limit=n)
        decode = time.perf_counter() - t
        ours = tensor_dls(train, valid, vocab, bs=100, augment=4, device=device, seed=0)
        files = sorted((root/'train').rglob('*.jpg')); random.Random(0).shuffle(files)
        items = files[:n] + sorted((root/'test').rglob('*.jpg'))[:1000]
        theirs = DataBlock(blocks=(ImageBlock, CategoryBlock), get_y=parent_label, splitter=IndexSplitter(range(n, len(items))),
                           item_tfms=Resize(32), batch_tfms=Normalize.from_stats(*map(list, zip(*[(.49, .25)] * 3))),
                           ).dataloaders(items, bs=100, num_workers=0, device=device)
        epoch_seconds(ours.train); epoch_seconds(theirs.train)                       # warm-up
        a = [epoch_seconds(ours.train) for _ in range(3)]; b = [epoch_seconds(theirs.train) for _ in range(3)]
    print(f"torch {torch.__version__}, {threads} threads, {device}; {n} CIFAR-10 training images at 32x32, batches of 100")
    print(f"decoding them once into a uint8 tensor: {decode:.1f} s")
    print(f"an epoch of batches, tensors on the device (crops, flips, normalisation): {min(a):.3f} s")
    print(f"an epoch of batches, fastai's per-item pipeline (decode, resize, normalise): {min(b):.3f} s  ({min(b) / min(a):.0f}x)")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--n', type=int, default=10_000); p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    main(**vars(p.parse_args()))
