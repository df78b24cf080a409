"Every kind of batch: dense targets, several inputs and targets, tabular, sequences and volumes, the options from the anchors."
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.losses import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat
from fastai.torch_core import set_seed
from fastmix.methods import MixUp, CutMix, FMix
from helpers import images

ALL = [MixUp, CutMix, FMix]


# --- dense targets ----------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('shape', [(6, 2, 16, 12), (6, 16, 12)])
def test_float_dense_targets_mixed_with_the_inputs_mask(cls, shape):
    set_seed(0)
    x, y = images(6, 3, (16, 12)), torch.rand(shape)
    xm, ym, mx = cls().mix((x,), (y,))
    m = mx.mask.float() if len(shape) == 4 else mx.mask.float()[:, 0]
    torch.testing.assert_close(ym[0], m * y + (1 - m) * y[mx.perm])
    assert mx.kinds == ('dense',) and not any(mx.weighed)

@pytest.mark.parametrize('spatial', [(30,), (10, 12), (5, 6, 7)])
def test_soft_fmix_weighs_label_maps_pixel_by_pixel(spatial):
    set_seed(1)
    x, y = images(5, 2, spatial), torch.randint(0, 4, (5, *spatial))
    # fastai's flat loss lays pixels out its own way (and pairs them wrongly for volumes): plain torch for 3-D
    lf = CrossEntropyLossFlat(axis=1) if len(spatial) < 3 else nn.CrossEntropyLoss()
    xm, ym, mx = FMix(max_soft=.2).mix((x,), (y,))
    assert ym[0] is y and mx.weighed == (True,)            # a soft mask cannot cut: the loss weighs
    pred = torch.randn(5, 4, *spatial)
    m = mx.mask.float()[:, 0]
    own = F.cross_entropy(pred, y, reduction='none'); other = F.cross_entropy(pred, y[mx.perm], reduction='none')
    torch.testing.assert_close(mx.loss(lf, pred), (m * own + (1 - m) * other).mean())

def test_dense_target_of_another_size_is_refused():
    with pytest.raises(ValueError, match=r"CutMix: the target of shape \(4, 8, 8\) looks dense, but its spatial dims "
                                         r"do not match the input's \(16, 16\)"):
        CutMix().mix((images(4, 3, (16, 16)),), (torch.randint(0, 3, (4, 8, 8)),))

def test_integer_dense_input_is_cut_too():
    set_seed(2)
    x = torch.arange(6.).view(6, 1, 1, 1).expand(6, 3, 8, 8)
    ids = torch.arange(6).view(6, 1, 1).expand(6, 8, 8)          # e.g. a per-pixel id map given as an input
    xm, ym, mx = FMix().mix((x, ids), (torch.arange(6),))
    assert torch.equal(xm[0][:, 0].long(), xm[1])

# --- several targets, and the `targets` argument ----------------------------------------------------

def test_several_targets_each_routed():
    set_seed(3)
    x = torch.arange(6.).view(6, 1, 1, 1).expand(6, 3, 8, 8)
    cls_y, soft_y, seg_y = torch.arange(6), torch.eye(6), torch.arange(6).view(6, 1, 1).expand(6, 8, 8)
    xm, ym, mx = CutMix().mix((x,), (cls_y, soft_y, seg_y))
    assert mx.kinds == ('label', 'soft', 'dense') and mx.weighed == (True, False, False)
    assert ym[0] is cls_y and torch.equal(mx.partner_yb[0], cls_y[mx.perm])
    torch.testing.assert_close(ym[1][torch.arange(6), torch.arange(6)], mx.lam)
    assert torch.equal(xm[0][:, 0].long(), ym[2])

def test_targets_override_for_ambiguous_one_d_batches():
    x, y = torch.randn(4, 2, 5), torch.randint(0, 5, (4, 5))      # (B, K) with K == L: looks dense
    xm, ym, mx = CutMix().mix((x,), (y,))
    assert mx.kinds == ('dense',)
    xm, ym, mx = CutMix(targets='label').mix((x,), (y,))
    assert mx.kinds == ('label',) and ym[0] is y and mx.weighed == (True,)

def test_keep_leaves_a_target_alone():
    y = torch.rand(6, 3)
    xm, ym, mx = MixUp(targets='keep').mix((images(6),), (y,))
    assert ym[0] is y and mx.weighed == (False,)

def test_targets_override_checked_against_the_batch():
    batch = (images(4),), (torch.arange(4),)
    with pytest.raises(TypeError, match="MixUp: a 'soft' target is interpolated, so it must be floating point"): MixUp(targets='soft').mix(*batch)
    with pytest.raises(ValueError, match=r"CutMix: a 'dense' target must have the input's spatial shape \(12, 10\)"): CutMix(targets='dense').mix(*batch)
    with pytest.raises(ValueError, match=r"FMix: `targets` gives 2 kinds for 1 targets"): FMix(targets=('label', 'label')).mix(*batch)

def test_mixed_devices_refused():
    y = torch.empty(4, dtype=torch.long, device='meta')
    with pytest.raises(ValueError, match=r"MixUp: inputs and targets must be on one device, got \['cpu', 'meta'\]"):
        MixUp().mix((images(4),), (y,))

# --- tabular ------------------------------------------------------------------------------------------

def test_tabular_mixup_interpolates_conts_never_codes():
    set_seed(4)
    cats, conts = torch.randint(0, 50, (16, 3)), torch.randn(16, 4)
    xm, ym, mx = MixUp().mix((cats, conts), (torch.arange(16),))
    l, p = mx.lam[:, None], mx.perm
    torch.testing.assert_close(xm[1], l * conts + (1 - l) * conts[p])
    assert torch.equal(xm[0], torch.where(l >= .5, cats, cats[p]))

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_tabular_cutting_refused_with_a_hint(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: needs an input .* use MixUp"):
        cls().mix((torch.randint(0, 5, (4, 2)), torch.randn(4, 3)), (torch.arange(4),))

# --- sequences and volumes ---------------------------------------------------------------------------

@pytest.mark.parametrize('spatial', [(200,), (40, 50), (12, 14, 16)])
def test_box_side_ratio_follows_dimension(spatial):
    set_seed(5)
    lam = torch.full((200,), .5)
    m = CutMix().draw_masks(lam, spatial, torch.float32)[0][:, 0] == 0
    inside = m.flatten(1).any(1)
    for d, s in enumerate(spatial):                       # every side about (1-λ)^(1/d) of its dim, before clipping
        other = tuple(i + 1 for i in range(len(spatial)) if i != d)
        side = (m.any(other) if other else m).sum(1).float()[inside] / s
        assert side.max() <= .5 ** (1 / len(spatial)) + .5 / s + 1e-6

# --- options from the anchors -----------------------------------------------------------------------

def test_cutmix_minmax_ignores_alpha_and_keeps_lam_exact():
    set_seed(6)
    xm, ym, mx = CutMix(alpha=1e-3, minmax=(.4, .6)).mix((images(64, 1, (50, 50)),), (torch.arange(64),))
    area = 1 - mx.lam                                      # each side in [.4, .6]: area in [.16, .36], never clipped
    assert (area >= .4 ** 2 - .02).all() and (area <= .6 ** 2 + .03).all()
    torch.testing.assert_close(mx.lam, mx.mask.flatten(1).mean(1))

def test_fmix_reformulate_keeps_labels_and_skews_lam():
    set_seed(7)
    x, y, soft = images(512, 1, (8, 8)), torch.arange(512) % 10, torch.eye(10)[torch.arange(512) % 10]
    seg = torch.randint(0, 3, (512, 8, 8))
    xm, ym, mx = FMix(alpha=1., reformulate=True).mix((x,), (y, soft, seg))
    assert mx.kinds == ('keep', 'keep', 'dense') and ym[0] is y and ym[1] is soft
    test_mean = mx.lam.mean().item()
    assert abs(test_mean - 2 / 3) < .03                   # Beta(2, 1)
    assert not mx.reweighs                                # the loss is the plain loss of each sample's own label

# --- label smoothing --------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', ALL)
def test_label_smoothing_of_class_indices_is_torch_label_smoothing(cls):
    set_seed(8)
    y = torch.randint(0, 7, (8,))
    xm, ym, mx = cls(label_smoothing=.1).mix((images(8),), (y,))
    pred = torch.randn(8, 7)
    ls = nn.CrossEntropyLoss(label_smoothing=.1, reduction='none')
    torch.testing.assert_close(mx.loss(CrossEntropyLossFlat(), pred), (mx.lam * ls(pred, y) + (1 - mx.lam) * ls(pred, y[mx.perm])).mean())

def test_label_smoothing_of_cut_label_maps():
    set_seed(9)
    y = torch.randint(0, 3, (4, 10, 10))
    xm, ym, mx = CutMix(label_smoothing=.2).mix((images(4, 3, (10, 10)),), (y,))
    pred = torch.randn(4, 3, 10, 10)
    torch.testing.assert_close(mx.loss(CrossEntropyLossFlat(axis=1), pred), nn.CrossEntropyLoss(label_smoothing=.2)(pred, ym[0]))

def test_label_smoothing_of_soft_targets():
    set_seed(10)
    y = torch.eye(5)[torch.tensor([0, 1, 2, 3, 4, 0])]
    xm, ym, mx = MixUp(label_smoothing=.1).mix((images(6),), (y,))
    s = y * .9 + .02
    l = mx.lam[:, None]
    torch.testing.assert_close(ym[0], l * s + (1 - l) * s[mx.perm])
    torch.testing.assert_close(ym[0].sum(1), torch.ones(6))

def test_label_smoothing_needs_cross_entropy_for_indices():
    xm, ym, mx = MixUp(label_smoothing=.1).mix((images(4),), (torch.arange(4),))
    with pytest.raises(TypeError, match="MixUp: `label_smoothing` with class-index targets needs a cross-entropy loss"):
        mx.loss(nn.MultiMarginLoss(), torch.randn(4, 4))

@pytest.mark.parametrize('lf', [LabelSmoothingCrossEntropyFlat(), nn.CrossEntropyLoss(label_smoothing=.1)])
def test_label_smoothing_twice_refused(lf):
    xm, ym, mx = FMix(label_smoothing=.1).mix((images(4),), (torch.arange(4),))
    with pytest.raises(ValueError, match="FMix: `label_smoothing=0.1` and the loss function .* smooths labels too"):
        mx.loss(lf, torch.randn(4, 4))
