"CIFAR-10 through the command's code: the data path on the real images (skipped without ../shared/data), the benchmark's reference spectrum, and the preset on a GPU (skipped without one)."
import importlib.util, sys, tarfile
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
TAR = ROOT.parent/'shared'/'data'/'cifar10.tar.gz'

def bench():
    "benchmarks/cifar10.py as a module"
    spec = importlib.util.spec_from_file_location('bench_cifar10', ROOT/'benchmarks'/'cifar10.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    if not TAR.exists(): pytest.skip(f"CIFAR-10 is not at {TAR} (only developer machines and CI have it)")
    d = tmp_path_factory.mktemp('cifar')
    with tarfile.open(TAR) as t: t.extractall(d, filter='data')
    return d/'cifar10'

def test_reference_spectrum_has_only_two_frequencies_along_the_last_axis():
    "The ablation's reference spectrum reproduces the official code's indexing: stripes, unlike fastmix's isotropic images"
    from fastmix.masks import low_freq_images
    ref = bench().reference_low_freq_images(64, (32, 32), 3.)
    power = torch.fft.rfft2(ref).abs().pow(2).mean(0)                       # (32, 17): rows are frequencies along the first axis
    assert power[:, 2:].sum() < 1e-6 * power.sum()                          # along the last axis: frequencies 0 and 1 only
    ours = torch.fft.rfft2(low_freq_images(64, (32, 32), 3.)).abs().pow(2).mean(0)
    assert ours[:, 2:].sum() > .001 * ours.sum()      # about 1% (0.9-1.3% over 20 seeds): a thousand times the reference's
    from fastmix.masks import sample_lam
    lam = sample_lam(1., 16)
    m, l = bench().ReferenceFMix(1.).draw_masks(lam, (32, 32), torch.float32)
    torch.testing.assert_close(l, m.flatten(1).mean(1))                     # λ exact, as every fastmix mask

def test_cifar_folder_decodes_to_the_published_statistics(cifar):
    from fastmix.data import folder_arrays
    from fastmix.data import channel_stats
    (xt, yt), (xv, yv), vocab = folder_arrays(cifar, 32, limit=2000, log=print)
    assert xt.shape == (2000, 3, 32, 32) and xt.dtype == torch.uint8 and xv.shape == (10000, 3, 32, 32)
    assert vocab == ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    assert torch.bincount(yt).tolist() == [200] * 10 and torch.bincount(yv).tolist() == [1000] * 10   # stratified; test/ whole
    mean, std = channel_stats(xt)
    assert all(abs(a - b) < .01 for a, b in zip(mean, (.491, .482, .447))) and all(abs(a - b) < .01 for a, b in zip(std, (.247, .243, .262)))

def test_benchmark_script_runs_a_slice(cifar, tmp_path):
    "The benchmark's settings (the ablation included) train through the command on a slice of CIFAR-10"
    from fastmix.cli import compare
    b = bench()
    rows = compare(preset='cifar10', data=cifar, arch='cifar_resnet18_w8', epochs=1, limit=300, bs=50, quiet=True,
                   setting_fns={k: b.SETTINGS[k] for k in b.GROUPS['ablation']}, log=lambda *a: None)
    assert [r['setting'] for r in rows] == b.GROUPS['ablation'] and all(0 <= r['valid_acc'] <= 1 for r in rows)

@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_preset_on_the_gpu_data_model_and_mixing_stay_on_the_device(tmp_path):
    "On a GPU the images live on the device, batches are cut and augmented there, and the preset trains in bf16, channels_last"
    from fastmix.cli import compare
    from fastmix.data import get_arrays
    from fastmix.data import tensor_dls
    (xt, yt), valid, vocab = get_arrays('digits', 32)
    dls = tensor_dls((xt, yt), valid, vocab, bs=64, augment=4)
    xb, yb = dls.one_batch()
    assert xb.device.type == 'cuda' and dls.train_ds.x.device.type == 'cuda' and xb.dtype == torch.float32
    rows = compare(preset='cifar10', data='digits', arch='cifar_resnet18_w8', epochs=2, bs=64, quiet=True, log=lambda *a: None,
                   out=tmp_path/'o')
    assert len(rows) == 4 and all(r['valid_acc'] > .3 for r in rows)
