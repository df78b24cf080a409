"What one mixed batch looks like: new tensors, exact λ, routing of inputs and targets, bad batches."
import pytest, torch
from torch import nn
from fastai.losses import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat, BCEWithLogitsLossFlat
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix
from conftest import attach

ALL = [MixUp, CutMix, FMix]

def images(bs=8, c=3, spatial=(12, 10), dtype=torch.float32):
    return torch.randn(bs, c, *spatial).to(dtype)

@pytest.mark.parametrize('cls', ALL)
def test_batch_untouched_and_new(cls):
    x, y = images(), torch.arange(8)
    x0, y0 = x.clone(), y.clone()
    learn = attach(c := cls(), (x,), (y,))
    learn_xb = learn.xb
    c.before_batch()
    assert torch.equal(x, x0) and torch.equal(y, y0)            # what the DataLoader yielded: bit for bit
    assert learn.xb is not learn_xb and learn.xb[0] is not x    # new tuple, new tensor
    assert not torch.equal(learn.xb[0], x0)

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('spatial', [(40,), (12, 10), (6, 5, 7)])
def test_mixed_input_is_mask_blend_with_exact_lam(cls, spatial):
    set_seed(1)
    x, y = images(9, 2, spatial), torch.arange(9)
    learn = attach(c := cls(), (x,), (y,))
    c.before_batch()
    m = c.mask.float()
    assert m.shape[0] == 9 and m.shape[1] == 1
    expected = m * x + (1 - m) * x[c.perm]
    torch.testing.assert_close(learn.xb[0], expected)
    # λ is the mean of each sample's mask: the true share of the sample in the mixed input
    torch.testing.assert_close(c.lam, m.expand(9, 1, *spatial).flatten(1).mean(1))
    assert c.lam.dtype == torch.float32 and c.lam.shape == (9,)
    assert (c.perm != torch.arange(9)).all()                    # nobody is its own partner

@pytest.mark.parametrize('cls', ALL)
def test_batch_mode_one_lam_one_mask(cls):
    x, y = images(6), torch.arange(6)
    learn = attach(c := cls(mode='batch'), (x,), (y,))
    c.before_batch()
    assert c.mask.shape[0] == 1 and (c.lam == c.lam[0]).all()
    m = c.mask.float()
    torch.testing.assert_close(learn.xb[0], m * x + (1 - m) * x[c.perm])

@pytest.mark.parametrize('cls', ALL)
def test_per_sample_by_default(cls):
    set_seed(2)
    learn = attach(c := cls(), (images(16),), (torch.arange(16),))
    c.before_batch()
    assert c.lam.unique().numel() > 1 and c.mask.shape[0] == 16

@pytest.mark.parametrize('cls', ALL)
def test_max_lam(cls):
    set_seed(3)
    learn = attach(c := cls(max_lam=True), (images(64),), (torch.arange(64),))
    c.before_batch()
    assert (c.lam >= .5).all()

def test_max_lam_default_only_for_mixup():
    set_seed(4)
    for cls in (CutMix, FMix):
        learn = attach(c := cls(), (images(64),), (torch.arange(64),))
        c.before_batch(); assert (c.lam < .5).any()

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_keeps_dtype(cls, dtype):
    learn = attach(c := cls(), (images(8, dtype=dtype),), (torch.arange(8),))
    c.before_batch()
    assert learn.xb[0].dtype == dtype and c.lam.dtype == torch.float32
    torch.testing.assert_close(c.lam, c.mask.float().expand(8, 1, 12, 10).flatten(1).mean(1))

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('bs', [1, 2, 7])
def test_small_and_odd_batches(cls, bs):
    x, y = images(bs), torch.arange(bs)
    learn = attach(c := cls(), (x,), (y,), CrossEntropyLossFlat())
    c.before_batch()
    assert learn.xb[0].shape == x.shape
    learn.pred = torch.randn(bs, 10); learn.loss_grad = learn.loss_func(learn.pred, y)   # as fastai computes it
    c.after_loss()
    assert learn.loss_grad.shape == () and torch.isfinite(learn.loss_grad)
    if bs == 1: torch.testing.assert_close(learn.xb[0], x)     # a lone sample is its own partner

@pytest.mark.parametrize('cls', ALL)
def test_seed_reproduces_everything(cls):
    runs = []
    for _ in range(2):
        set_seed(123)
        learn = attach(c := cls(), (images(10),), (torch.arange(10),))
        c.before_batch(); runs.append((c.lam, c.shift, c.mask, learn.xb[0]))
    for a, b in zip(*runs): assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))

def test_channels_last_kept():
    x = images(4).contiguous(memory_format=torch.channels_last)
    for cls in ALL:
        learn = attach(c := cls(), (x,), (torch.arange(4),)); c.before_batch()
        assert learn.xb[0].is_contiguous(memory_format=torch.channels_last)

# --- targets -------------------------------------------------------------------------------------

LOSSES = [CrossEntropyLossFlat(), nn.CrossEntropyLoss(), LabelSmoothingCrossEntropyFlat(),
          CrossEntropyLossFlat(reduction='sum'), nn.CrossEntropyLoss(reduction='none')]

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('lf', LOSSES, ids=lambda l: f"{type(l).__name__}-{l.reduction}")
def test_class_index_loss_is_lam_weighted(cls, lf):
    set_seed(5)
    x, y = images(8), torch.randint(0, 5, (8,))
    learn = attach(c := cls(), (x,), (y,), lf)
    c.before_batch()
    assert learn.yb[0] is y                                      # class indices are kept...
    learn.pred = pred = torch.randn(8, 5, requires_grad=True)
    red = lf.reduction
    learn.loss_grad = lf(pred, y)                                 # what fastai computes first
    c.after_loss()
    lf.reduction = 'none'
    try: own, other = lf(pred, y), lf(pred, y[c.perm])
    finally: lf.reduction = red
    per_sample = c.lam * own + (1 - c.lam) * other                # ...and the loss weighs both by λ
    want = {'mean': per_sample.mean(), 'sum': per_sample.sum(), 'none': per_sample}[red]
    torch.testing.assert_close(learn.loss_grad, want)
    torch.testing.assert_close(learn.loss, want)
    assert lf.reduction == red                                    # the loss object is as it was
    learn.loss_grad.sum().backward(); assert pred.grad is not None

def test_functional_loss_without_reduction_attribute():
    import torch.nn.functional as F
    set_seed(6)
    y = torch.randint(0, 4, (6,))
    learn = attach(c := MixUp(), (images(6),), (y,), F.cross_entropy)
    c.before_batch(); learn.pred = pred = torch.randn(6, 4); c.after_loss()
    want = (c.lam * F.cross_entropy(pred, y, reduction='none')
            + (1 - c.lam) * F.cross_entropy(pred, y[c.perm], reduction='none')).mean()
    torch.testing.assert_close(learn.loss_grad, want)

def test_loss_that_cannot_be_unreduced_is_named():
    learn = attach(c := MixUp(), (images(6),), (torch.arange(6),), lambda p, y: p.sum() * 0)
    c.before_batch(); learn.pred = torch.randn(6, 6)
    with pytest.raises(TypeError, match="MixUp: the loss function .* has no `reduction`"): c.after_loss()
    learn.loss_func = lambda p, y, reduction='mean': p.sum()
    with pytest.raises(ValueError, match="MixUp: the loss function returned shape"): c.after_loss()

@pytest.mark.parametrize('cls', ALL)
def test_float_targets_are_mixed_and_loss_untouched(cls):
    set_seed(7)
    x, y = images(8), (torch.rand(8, 5) > .5).float()            # multi-label
    lf = BCEWithLogitsLossFlat()
    learn = attach(c := cls(), (x,), (y,), lf)
    c.before_batch()
    l = c.lam[:, None]
    torch.testing.assert_close(learn.yb[0], l * y + (1 - l) * y[c.perm])
    learn.loss_grad = sentinel = torch.tensor(1.)
    learn.pred = torch.randn(8, 5); c.after_loss()
    assert learn.loss_grad is sentinel                             # nothing to weigh

def test_one_hot_targets_mix_to_the_mixed_proportions():
    set_seed(8)
    x, y = images(8), torch.eye(8)
    learn = attach(c := FMix(), (x,), (y,)); c.before_batch()
    yy = learn.yb[0]
    torch.testing.assert_close(yy[torch.arange(8), torch.arange(8)], c.lam)
    torch.testing.assert_close(yy[torch.arange(8), c.perm], 1 - c.lam)

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_integer_label_maps_are_cut_with_the_mask(cls):
    set_seed(9)
    x = torch.arange(6.).view(6, 1, 1, 1).expand(6, 3, 16, 16)   # each image a constant = its index
    y = torch.arange(6).view(6, 1, 1).expand(6, 16, 16)          # and its label map too
    learn = attach(c := cls(), (x,), (y,)); c.before_batch()
    # every pixel's label is the sample its pixel came from
    assert torch.equal(learn.xb[0][:, 0].long(), learn.yb[0])
    assert c.kinds == ['dense'] and not any(c._weigh)

def test_mixup_weighs_integer_label_maps_in_the_loss():
    y = torch.randint(0, 3, (4, 8, 8))
    learn = attach(c := MixUp(), (images(4, spatial=(8, 8)),), (y,), CrossEntropyLossFlat(axis=1))
    c.before_batch(); assert learn.yb[0] is y and c.kinds == ['dense'] and c._weigh == [True]
    learn.pred = torch.randn(4, 3, 8, 8); c.after_loss()
    assert torch.isfinite(learn.loss_grad)

# --- several inputs ---------------------------------------------------------------------------------

def test_several_inputs_share_partners_and_masks():
    set_seed(10)
    img, img2 = images(6), images(6)
    meta, codes = torch.randn(6, 4), torch.randint(0, 9, (6, 2))
    learn = attach(c := CutMix(), (img, img2, meta, codes), (torch.arange(6),)); c.before_batch()
    m, l, p = c.mask, c.lam, c.perm
    torch.testing.assert_close(learn.xb[1], m * img2 + (1 - m) * img2[p])
    torch.testing.assert_close(learn.xb[2], l[:, None] * meta + (1 - l[:, None]) * meta[p])
    assert torch.equal(learn.xb[3], torch.where((l >= .5)[:, None], codes, codes[p]))

# --- bad batches ------------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_integer_images_rejected(cls):
    learn = attach(c := cls(), (torch.zeros(4, 3, 8, 8, dtype=torch.uint8),), (torch.arange(4),))
    with pytest.raises(TypeError, match=rf"{cls.__name__}: cannot mix an input of dtype torch.uint8 \(shape \(4, 3, 8, 8\)\)"):
        c.before_batch()

@pytest.mark.parametrize('cls', [CutMix, FMix])
@pytest.mark.parametrize('shape', [(4, 10), (4, 1, 2, 3, 4, 5)])
def test_no_spatial_dims_rejected(cls, shape):
    learn = attach(c := cls(), (torch.randn(shape),), (torch.arange(4),))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: needs an input .* got shapes \[{tuple(shape)}\].* use MixUp".replace('(', r'\(').replace(')', r'\)')):
        c.before_batch()

def test_mixup_tabular_ok_tokens_rejected():
    learn = attach(c := MixUp(), (torch.randn(5, 3),), (torch.arange(5),)); c.before_batch()
    learn = attach(c := MixUp(), (torch.randint(0, 9, (5, 7)),), (torch.arange(5),))
    with pytest.raises(TypeError, match="MixUp: no floating-point input"): c.before_batch()

def test_batch_size_mismatch_named():
    learn = attach(c := FMix(), (images(4),), (torch.arange(5),))
    with pytest.raises(ValueError, match=r"FMix: every input and target needs the batch size 4"): c.before_batch()
