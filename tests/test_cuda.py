"On a CUDA device: mixing stays on the device and makes no host-device sync. Skipped without a GPU."
import pytest, torch
from fastai.losses import CrossEntropyLossFlat
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix, ResizeMix, SaliencyMix, GridMix, SmoothMix

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')]

def _one_of(mode='elem', **kw): return OneOfMix(MixUp(), CutMix(), FMix(), mode=mode, **kw)

def _all_seven(mode='elem', **kw): return OneOfMix(MixUp(), CutMix(), FMix(), ResizeMix(), SaliencyMix(), GridMix(), SmoothMix(), mode=mode, **kw)

@pytest.mark.parametrize('cls', [MixUp, CutMix, FMix, ResizeMix, SaliencyMix, GridMix, SmoothMix, _one_of, _all_seven,
                                 lambda mode: CutMix(mode=mode, p=.5)],
                         ids=['MixUp', 'CutMix', 'FMix', 'ResizeMix', 'SaliencyMix', 'GridMix', 'SmoothMix', 'OneOfMix', 'OneOfMix-7', 'CutMix-p'])
@pytest.mark.parametrize('mode', ['elem', 'batch'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_no_sync_and_on_device(cls, mode, dtype):
    x = torch.randn(32, 3, 64, 64, device='cuda', dtype=dtype)
    y = torch.randint(0, 10, (32,), device='cuda')
    c, lf = cls(mode=mode), CrossEntropyLossFlat()
    c.mix((x,), (y,))                                                 # warm-up: caches, cuFFT plans
    pred = torch.randn(32, 10, device='cuda')
    torch.cuda.set_sync_debug_mode('error')
    try:
        xm, ym, mx = c.mix((x,), (y,))
        loss = mx.loss(lf, pred)
        xs, ys = c.mix_soft(x, y, 10)
    finally: torch.cuda.set_sync_debug_mode('default')
    assert xm[0].device.type == 'cuda' and xm[0].dtype == dtype and torch.isfinite(loss) and xs.shape == x.shape
    assert mx.lam.device.type == 'cuda' and mx.lam.dtype == torch.float32
    torch.testing.assert_close(mx.lam, mx.mask.float().expand(32, 1, 64, 64).flatten(1).mean(1))

@pytest.mark.parametrize('make', [FMix, _one_of, lambda: CutMix(p=.5)], ids=['FMix', 'OneOfMix', 'CutMix-p'])
def test_same_seed_same_mixing_on_gpu(make):
    from fastai.torch_core import set_seed
    runs = []
    for _ in range(2):
        set_seed(3)
        x = torch.randn(16, 3, 32, 32, device='cuda')
        xm, ym, mx = make().mix((x,), (torch.arange(16, device='cuda'),))
        runs.append((mx.lam, mx.mask, mx.shift, xm[0]))
    for a, b in zip(*runs): assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))

@pytest.mark.parametrize('cls', [MixUp, CutMix, FMix])
@pytest.mark.parametrize('precision', ['fp32', 'fp16', 'bf16'])
def test_dense_fit_on_gpu(cls, precision, tmp_path):
    "A real fit on the GPU, in each precision: label maps cut with the pixels, λ the masks' exact means"
    from torch import nn
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    import fastai.callback.fp16                 # adds Learner.to_fp16 and to_bf16
    from test_fit_kinds import blocks, fit_and_watch
    items = blocks(64, (16, 16, 16))
    dls = DataLoaders.from_dsets(items[:48], items[48:], bs=16, device='cuda')
    learn = Learner(dls, nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 3, 3, padding=1)),
                    loss_func=nn.CrossEntropyLoss(), lr=1e-2, path=tmp_path)
    if precision == 'fp16': learn = learn.to_fp16()
    if precision == 'bf16': learn = learn.to_bf16()
    before, after = fit_and_watch(learn, cls())
    for (xb0, yb0), (xb, yb, lam, perm, mask, kinds) in zip(before, after):
        assert xb[0].is_cuda and lam.is_cuda and mask.dtype == xb0[0].dtype and lam.dtype == torch.float32
        m = mask.float()
        torch.testing.assert_close(lam, m.expand_as(xb0[0]).flatten(1).mean(1))
        if cls is not MixUp: assert torch.equal((xb[0][:, 0] * 4).round().long(), yb[0])
