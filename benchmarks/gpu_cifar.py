"""CIFAR-10 in one GPU window: the epoch time of the CIFAR ResNet-18 (bf16, channels_last, the tensor data path),
then none, CutMix, FMix and ResizeMix for the largest equal number of epochs that fits `--minutes`, one after
another, each run's JSON in OUT/runs (what `benchmarks/cifar10.py --table --runs OUT/runs` prints), then
`bench_mix.py --device cuda` and the CUDA tests, their output in OUT.

    python benchmarks/gpu_cifar.py --out $OUT --tar _carry/cifar10.tar.gz      # on the GPU machine (about 9 minutes)
    python benchmarks/gpu_cifar.py --out /tmp/gpu --tiny                       # here, on the CPU: the same steps at toy size

The device machine has PyTorch but not fastai: carry fastai's pure-Python wheels (and fastmix's working tree) with
the command, as the device tool's README says (`pip download --no-deps --python-version 3.12 ...` of fastai,
fastcore, fastprogress, fasttransform, fastdownload, plum-dispatch, beartype), and the data archive, copied into an
ignored folder of the checkout (`_carry/`), since `../shared` does not travel. The runs are one after another:
running the four at once on the one GPU was not measured (one ResNet-18 at batch 100 leaves most of an H200 idle,
so it may well be faster; measure it first if the window allows).
"""
import argparse, subprocess, sys, tempfile, time
from pathlib import Path
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cifar10                                   # the benchmark's settings and data helpers
from fastmix.cli import compare

MAIN = ['none', 'CutMix(0.2)', 'FMix(0.2)', 'ResizeMix(1)']

def tiny_folder(data:Path, dest:Path, n_train:int=30, n_test:int=10)->Path:
    "A copy of the first `n_train` training and `n_test` test images of each class: the CIFAR layout at toy size"
    import shutil
    for split, n in (('train', n_train), ('test', n_test)):
        for c in sorted(p for p in (data/split).iterdir() if p.is_dir()):
            (dest/split/c.name).mkdir(parents=True, exist_ok=True)
            for f in sorted(c.iterdir())[:n]: shutil.copy(f, dest/split/c.name/f.name)
    return dest

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--minutes', type=float, default=5.5, help="training time for the four runs together")
    p.add_argument('--tar', default=None, help="the CIFAR-10 archive (default ../shared/data/cifar10.tar.gz)")
    p.add_argument('--data', default=None, help="an extracted CIFAR folder instead of --tar")
    p.add_argument('--tiny', action='store_true', help="toy size, for a check on the CPU: width 8, 30 training and 10 test images a class, 1-2 epochs")
    a = p.parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    log = open(out/'log.txt', 'a')
    def say(*xs):
        line = ' '.join(map(str, xs)); print(line, flush=True); log.write(line + '\n'); log.flush()
    if a.tar: cifar10.SHARED = Path(a.tar)
    data = cifar10.cifar_folder(a.data)
    if data is None: say(f"gpu_cifar: no --data and no {cifar10.SHARED}: nothing to do"); return
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'
    say(f"gpu_cifar: {dev}, torch {torch.__version__}")
    kw = dict(preset='cifar10', data=str(data), quiet=True, log=say)
    if a.tiny:
        kw.update(arch='cifar_resnet18_w8', bs=50, data=str(tiny_folder(data, out/'tiny')))
    # 1. the epoch time: two epochs of the unmixed model (the first includes cuDNN's autotuning)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = compare(epochs=2, setting_fns={'none': cifar10.SETTINGS['none']}, runs=tmp, **kw)
    secs = rows[0]['s_per_epoch']
    say(f"gpu_cifar: {secs:.2f} s an epoch (training, and validating every test image), measured in {time.perf_counter() - t:.0f} s")
    # 2. the four settings, for as many epochs as fit
    epochs = 1 if a.tiny else max(1, int(a.minutes * 60 / (len(MAIN) * secs * 1.05)))
    say(f"gpu_cifar: {epochs} epochs for each of {', '.join(MAIN)}")
    t = time.perf_counter()
    compare(epochs=epochs, setting_fns={k: cifar10.SETTINGS[k] for k in MAIN}, runs=str(out/'runs'), **kw)
    say(f"gpu_cifar: trained in {time.perf_counter() - t:.0f} s\n" + cifar10.table(cifar10.load_runs(out/'runs', MAIN)))
    # 3. the mixing benchmark and the CUDA tests on the device (skipped on the CPU)
    if torch.cuda.is_available():
        for name, cmd in (('bench_mix.txt', [sys.executable, str(HERE/'bench_mix.py'), '--device', 'cuda', '--rounds', '5']),
                          ('cuda_tests.txt', [sys.executable, '-m', 'pytest', '-q', '-m', 'cuda', str(HERE.parent/'tests')])):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
            (out/name).write_text(r.stdout + r.stderr)
            say(f"gpu_cifar: {name}: exit {r.returncode}; " + (r.stdout.strip().splitlines() or [''])[-1])
    else: say("gpu_cifar: no CUDA device: bench_mix.py --device cuda and the CUDA tests skipped")

if __name__ == '__main__': main()
