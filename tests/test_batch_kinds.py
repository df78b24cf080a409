"Every kind of batch: dense targets, several inputs and targets, tabular, sequences and volumes, the options from the anchors."
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.losses import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix
from conftest import attach

ALL = [MixUp, CutMix, FMix]

def images(bs=8, c=3, spatial=(12, 10)): return torch.randn(bs, c, *spatial)

# --- dense targets ----------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('shape', [(6, 2, 16, 12), (6, 16, 12)])
def test_float_dense_targets_mixed_with_the_inputs_mask(cls, shape):
    set_seed(0)
    x, y = images(6, 3, (16, 12)), torch.rand(shape)
    learn = attach(c := cls(), (x,), (y,)); c.before_batch()
    m = c.mask.float() if len(shape) == 4 else c.mask.float()[:, 0]
    torch.testing.assert_close(learn.yb[0], m * y + (1 - m) * y[c.perm])
    assert c.kinds == ['dense'] and not any(c._weigh)

@pytest.mark.parametrize('spatial', [(30,), (10, 12), (5, 6, 7)])
def test_soft_fmix_weighs_label_maps_pixel_by_pixel(spatial):
    set_seed(1)
    x, y = images(5, 2, spatial), torch.randint(0, 4, (5, *spatial))
    # fastai's flat loss lays pixels out its own way (and pairs them wrongly for volumes): plain torch for 3-D
    lf = CrossEntropyLossFlat(axis=1) if len(spatial) < 3 else nn.CrossEntropyLoss()
    learn = attach(c := FMix(max_soft=.2), (x,), (y,), lf); c.before_batch()
    assert learn.yb[0] is y and c._weigh == [True]            # a soft mask cannot cut: the loss weighs
    learn.pred = pred = torch.randn(5, 4, *spatial)
    c.after_loss()
    m = c.mask.float()[:, 0]
    own = F.cross_entropy(pred, y, reduction='none'); other = F.cross_entropy(pred, y[c.perm], reduction='none')
    torch.testing.assert_close(learn.loss_grad, (m * own + (1 - m) * other).mean())

def test_dense_target_of_another_size_is_refused():
    learn = attach(c := CutMix(), (images(4, 3, (16, 16)),), (torch.randint(0, 3, (4, 8, 8)),))
    with pytest.raises(ValueError, match=r"CutMix: the target of shape \(4, 8, 8\) looks dense, but its spatial dims "
                                         r"do not match the input's \(16, 16\)"):
        c.before_batch()

def test_integer_dense_input_is_cut_too():
    set_seed(2)
    x = torch.arange(6.).view(6, 1, 1, 1).expand(6, 3, 8, 8)
    ids = torch.arange(6).view(6, 1, 1).expand(6, 8, 8)          # e.g. a per-pixel id map given as an input
    learn = attach(c := FMix(), (x, ids), (torch.arange(6),)); c.before_batch()
    assert torch.equal(learn.xb[0][:, 0].long(), learn.xb[1])

# --- several targets, and the `targets` argument ----------------------------------------------------

def test_several_targets_each_routed():
    set_seed(3)
    x = torch.arange(6.).view(6, 1, 1, 1).expand(6, 3, 8, 8)
    cls_y, soft_y, seg_y = torch.arange(6), torch.eye(6), torch.arange(6).view(6, 1, 1).expand(6, 8, 8)
    learn = attach(c := CutMix(), (x,), (cls_y, soft_y, seg_y)); c.before_batch()
    assert c.kinds == ['label', 'soft', 'dense'] and c._weigh == [True, False, False]
    assert learn.yb[0] is cls_y and torch.equal(c.yb1[0], cls_y[c.perm])
    torch.testing.assert_close(learn.yb[1][torch.arange(6), torch.arange(6)], c.lam)
    assert torch.equal(learn.xb[0][:, 0].long(), learn.yb[2])

def test_targets_override_for_ambiguous_one_d_batches():
    x, y = torch.randn(4, 2, 5), torch.randint(0, 5, (4, 5))      # (B, K) with K == L: looks dense
    learn = attach(c := CutMix(), (x,), (y,)); c.before_batch()
    assert c.kinds == ['dense']
    learn = attach(c := CutMix(targets='label'), (x,), (y,)); c.before_batch()
    assert c.kinds == ['label'] and learn.yb[0] is y and c._weigh == [True]

def test_keep_leaves_a_target_alone():
    y = torch.rand(6, 3)
    learn = attach(c := MixUp(targets='keep'), (images(6),), (y,)); c.before_batch()
    assert learn.yb[0] is y and c._weigh == [False]

def test_targets_override_checked_against_the_batch():
    learn = attach(c := MixUp(targets='soft'), (images(4),), (torch.arange(4),))
    with pytest.raises(TypeError, match="MixUp: a 'soft' target is interpolated, so it must be floating point"): c.before_batch()
    learn = attach(c := CutMix(targets='dense'), (images(4),), (torch.arange(4),))
    with pytest.raises(ValueError, match=r"CutMix: a 'dense' target must have the input's spatial shape \(12, 10\)"): c.before_batch()
    learn = attach(c := FMix(targets=('label', 'label')), (images(4),), (torch.arange(4),))
    with pytest.raises(ValueError, match=r"FMix: `targets` gives 2 kinds for 1 targets"): c.before_batch()

def test_mixed_devices_refused():
    y = torch.empty(4, dtype=torch.long, device='meta')
    learn = attach(c := MixUp(), (images(4),), (y,))
    with pytest.raises(ValueError, match=r"MixUp: inputs and targets must be on one device, got \['cpu', 'meta'\]"):
        c.before_batch()

# --- tabular ------------------------------------------------------------------------------------------

def test_tabular_mixup_interpolates_conts_never_codes():
    set_seed(4)
    cats, conts = torch.randint(0, 50, (16, 3)), torch.randn(16, 4)
    learn = attach(c := MixUp(), (cats, conts), (torch.arange(16),)); c.before_batch()
    l, p = c.lam[:, None], c.perm
    torch.testing.assert_close(learn.xb[1], l * conts + (1 - l) * conts[p])
    assert torch.equal(learn.xb[0], torch.where(l >= .5, cats, cats[p]))

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_tabular_cutting_refused_with_a_hint(cls):
    learn = attach(c := cls(), (torch.randint(0, 5, (4, 2)), torch.randn(4, 3)), (torch.arange(4),))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: needs an input .* use MixUp"): c.before_batch()

# --- sequences and volumes ---------------------------------------------------------------------------

@pytest.mark.parametrize('spatial', [(200,), (40, 50), (12, 14, 16)])
def test_box_side_ratio_follows_dimension(spatial):
    set_seed(5)
    lam = torch.full((200,), .5)
    learn = attach(c := CutMix(), (images(200, 1, spatial),), (torch.arange(200),))
    m = c.masks(lam, spatial, torch.float32)[0][:, 0] == 0
    inside = m.flatten(1).any(1)
    for d, s in enumerate(spatial):                       # every side about (1-λ)^(1/d) of its dim, before clipping
        other = tuple(i + 1 for i in range(len(spatial)) if i != d)
        side = (m.any(other) if other else m).sum(1).float()[inside] / s
        assert side.max() <= .5 ** (1 / len(spatial)) + .5 / s + 1e-6

# --- options from the anchors -----------------------------------------------------------------------

def test_cutmix_minmax_ignores_alpha_and_keeps_lam_exact():
    set_seed(6)
    learn = attach(c := CutMix(alpha=1e-3, minmax=(.4, .6)), (images(64, 1, (50, 50)),), (torch.arange(64),))
    c.before_batch()
    area = 1 - c.lam                                      # each side in [.4, .6]: area in [.16, .36], never clipped
    assert (area >= .4 ** 2 - .02).all() and (area <= .6 ** 2 + .03).all()
    torch.testing.assert_close(c.lam, c.mask.flatten(1).mean(1))

def test_fmix_reformulate_keeps_labels_and_skews_lam():
    set_seed(7)
    x, y, soft = images(512, 1, (8, 8)), torch.arange(512) % 10, torch.eye(10)[torch.arange(512) % 10]
    seg = torch.randint(0, 3, (512, 8, 8))
    learn = attach(c := FMix(alpha=1., reformulate=True), (x,), (y, soft, seg), CrossEntropyLossFlat())
    c.before_batch()
    assert c.kinds == ['keep', 'keep', 'dense'] and learn.yb[0] is y and learn.yb[1] is soft
    test_mean = c.lam.mean().item()
    assert abs(test_mean - 2 / 3) < .03                   # Beta(2, 1)
    learn.loss_grad = sentinel = torch.tensor(1.); learn.pred = torch.randn(512, 10); c.after_loss()
    assert learn.loss_grad is sentinel                    # the loss is the plain loss of each sample's own label

# --- label smoothing --------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', ALL)
def test_label_smoothing_of_class_indices_is_torch_label_smoothing(cls):
    set_seed(8)
    y = torch.randint(0, 7, (8,))
    learn = attach(c := cls(label_smoothing=.1), (images(8),), (y,), CrossEntropyLossFlat()); c.before_batch()
    learn.pred = pred = torch.randn(8, 7); c.after_loss()
    ls = nn.CrossEntropyLoss(label_smoothing=.1, reduction='none')
    torch.testing.assert_close(learn.loss_grad, (c.lam * ls(pred, y) + (1 - c.lam) * ls(pred, y[c.perm])).mean())

def test_label_smoothing_of_cut_label_maps():
    set_seed(9)
    y = torch.randint(0, 3, (4, 10, 10))
    learn = attach(c := CutMix(label_smoothing=.2), (images(4, 3, (10, 10)),), (y,), CrossEntropyLossFlat(axis=1))
    c.before_batch(); learn.pred = pred = torch.randn(4, 3, 10, 10); c.after_loss()
    torch.testing.assert_close(learn.loss_grad, nn.CrossEntropyLoss(label_smoothing=.2)(pred, learn.yb[0]))

def test_label_smoothing_of_soft_targets():
    set_seed(10)
    y = torch.eye(5)[torch.tensor([0, 1, 2, 3, 4, 0])]
    learn = attach(c := MixUp(label_smoothing=.1), (images(6),), (y,)); c.before_batch()
    s = y * .9 + .02
    l = c.lam[:, None]
    torch.testing.assert_close(learn.yb[0], l * s + (1 - l) * s[c.perm])
    torch.testing.assert_close(learn.yb[0].sum(1), torch.ones(6))

def test_label_smoothing_needs_cross_entropy_for_indices():
    learn = attach(c := MixUp(label_smoothing=.1), (images(4),), (torch.arange(4),), nn.MultiMarginLoss())
    c.before_batch(); learn.pred = torch.randn(4, 4)
    with pytest.raises(TypeError, match="MixUp: `label_smoothing` with class-index targets needs a cross-entropy loss"):
        c.after_loss()

@pytest.mark.parametrize('lf', [LabelSmoothingCrossEntropyFlat(), nn.CrossEntropyLoss(label_smoothing=.1)])
def test_label_smoothing_twice_refused(lf):
    learn = attach(c := FMix(label_smoothing=.1), (images(4),), (torch.arange(4),), lf)
    with pytest.raises(ValueError, match="FMix: `label_smoothing=0.1` and the loss function .* smooths labels too"):
        c.before_fit()
