"What one mixed batch looks like: new tensors, exact λ, routing of inputs and targets, bad batches."
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.losses import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat, BCEWithLogitsLossFlat
from fastai.torch_core import set_seed
from fastmix.methods import MixUp, CutMix, FMix
from helpers import images

ALL = [MixUp, CutMix, FMix]

@pytest.mark.parametrize('cls', ALL)
def test_batch_untouched_and_new(cls):
    x, y = images(), torch.arange(8)
    x0, y0 = x.clone(), y.clone()
    xb = (x,)
    xm, ym, mx = cls().mix(xb, (y,))
    assert torch.equal(x, x0) and torch.equal(y, y0)            # what the DataLoader yielded: bit for bit
    assert xm is not xb and xm[0] is not x                      # new tuple, new tensor
    assert not torch.equal(xm[0], x0)

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('spatial', [(40,), (12, 10), (6, 5, 7)])
def test_mixed_input_is_mask_blend_with_exact_lam(cls, spatial):
    set_seed(1)
    x, y = images(9, 2, spatial), torch.arange(9)
    xm, ym, mx = cls().mix((x,), (y,))
    m = mx.mask.float()
    assert m.shape[0] == 9 and m.shape[1] == 1
    expected = m * x + (1 - m) * x[mx.perm]
    torch.testing.assert_close(xm[0], expected)
    # λ is the mean of each sample's mask: the true share of the sample in the mixed input
    torch.testing.assert_close(mx.lam, m.expand(9, 1, *spatial).flatten(1).mean(1))
    assert mx.lam.dtype == torch.float32 and mx.lam.shape == (9,)
    assert (mx.perm != torch.arange(9)).all()                    # nobody is its own partner

@pytest.mark.parametrize('cls', ALL)
def test_batch_mode_one_lam_one_mask(cls):
    x, y = images(6), torch.arange(6)
    xm, ym, mx = cls(mode='batch').mix((x,), (y,))
    assert mx.mask.shape[0] == 1 and (mx.lam == mx.lam[0]).all()
    m = mx.mask.float()
    torch.testing.assert_close(xm[0], m * x + (1 - m) * x[mx.perm])

@pytest.mark.parametrize('cls', ALL)
def test_per_sample_by_default(cls):
    set_seed(2)
    xm, ym, mx = cls().mix((images(16),), (torch.arange(16),))
    assert mx.lam.unique().numel() > 1 and mx.mask.shape[0] == 16

@pytest.mark.parametrize('cls', ALL)
def test_max_lam(cls):
    set_seed(3)
    xm, ym, mx = cls(max_lam=True).mix((images(64),), (torch.arange(64),))
    assert (mx.lam >= .5).all()

def test_max_lam_default_only_for_mixup():
    set_seed(4)
    for cls in (CutMix, FMix):
        xm, ym, mx = cls().mix((images(64),), (torch.arange(64),)); assert (mx.lam < .5).any()

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_keeps_dtype(cls, dtype):
    xm, ym, mx = cls().mix((images(8, dtype=dtype),), (torch.arange(8),))
    assert xm[0].dtype == dtype and mx.lam.dtype == torch.float32
    torch.testing.assert_close(mx.lam, mx.mask.float().expand(8, 1, 12, 10).flatten(1).mean(1))

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('bs', [1, 2, 7])
def test_small_and_odd_batches(cls, bs):
    x, y = images(bs), torch.arange(bs)
    xm, ym, mx = cls().mix((x,), (y,))
    assert xm[0].shape == x.shape
    loss = mx.loss(CrossEntropyLossFlat(), torch.randn(bs, 10))
    assert loss.shape == () and torch.isfinite(loss)
    if bs == 1:                                                  # a lone sample has no partner: nothing is mixed
        assert xm[0] is x and mx.shift == 0 and (mx.lam == 1).all()

@pytest.mark.parametrize('cls', ALL)
def test_seed_reproduces_everything(cls):
    runs = []
    for _ in range(2):
        set_seed(123)
        xm, ym, mx = cls().mix((images(10),), (torch.arange(10),)); runs.append((mx.lam, mx.shift, mx.mask, xm[0]))
    for a, b in zip(*runs): assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))

@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_channels_last_kept(dtype):
    "Every method keeps channels_last, ResizeMix (its pasted partners) and OneOfMix's rows that pick it included"
    from fastmix.mixing import OneOfMix
    from fastmix.methods import GridMix, SmoothMix, SaliencyMix, ResizeMix
    x = images(8, dtype=dtype).contiguous(memory_format=torch.channels_last)
    for mixer in [cls() for cls in ALL] + [GridMix(), SmoothMix(), SaliencyMix(), ResizeMix(), OneOfMix(ResizeMix(), CutMix())]:
        xm, ym, mx = mixer.mix((x,), (torch.arange(8),))
        assert xm[0].is_contiguous(memory_format=torch.channels_last) and xm[0].dtype == dtype, mixer

# --- targets -------------------------------------------------------------------------------------

LOSSES = [CrossEntropyLossFlat(), nn.CrossEntropyLoss(), LabelSmoothingCrossEntropyFlat(),
          CrossEntropyLossFlat(reduction='sum'), nn.CrossEntropyLoss(reduction='none')]

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('lf', LOSSES, ids=lambda l: f"{type(l).__name__}-{l.reduction}")
def test_class_index_loss_is_lam_weighted(cls, lf):
    set_seed(5)
    x, y = images(8), torch.randint(0, 5, (8,))
    xm, ym, mx = cls().mix((x,), (y,))
    assert ym[0] is y                                             # class indices are kept...
    pred = torch.randn(8, 5, requires_grad=True)
    red = lf.reduction
    loss = mx.loss(lf, pred)
    lf.reduction = 'none'
    try: own, other = lf(pred, y), lf(pred, y[mx.perm])
    finally: lf.reduction = red
    per_sample = mx.lam * own + (1 - mx.lam) * other                # ...and the loss weighs both by λ
    want = {'mean': per_sample.mean(), 'sum': per_sample.sum(), 'none': per_sample}[red]
    torch.testing.assert_close(loss, want)
    assert lf.reduction == red                                    # the loss object is as it was
    loss.sum().backward(); assert pred.grad is not None

def test_functional_loss_without_reduction_attribute():
    set_seed(6)
    y = torch.randint(0, 4, (6,))
    xm, ym, mx = MixUp().mix((images(6),), (y,)); pred = torch.randn(6, 4)
    want = (mx.lam * F.cross_entropy(pred, y, reduction='none')
            + (1 - mx.lam) * F.cross_entropy(pred, y[mx.perm], reduction='none')).mean()
    torch.testing.assert_close(mx.loss(F.cross_entropy, pred), want)

def test_loss_that_cannot_be_unreduced_is_named():
    xm, ym, mx = MixUp().mix((images(6),), (torch.arange(6),)); pred = torch.randn(6, 6)
    with pytest.raises(TypeError, match="MixUp: the loss function .* has no `reduction`"): mx.loss(lambda p, y: p.sum() * 0, pred)
    with pytest.raises(ValueError, match="MixUp: the loss function returned shape"): mx.loss(lambda p, y, reduction='mean': p.sum(), pred)

@pytest.mark.parametrize('cls', ALL)
def test_float_targets_are_mixed_and_loss_untouched(cls):
    set_seed(7)
    x, y = images(8), (torch.rand(8, 5) > .5).float()            # multi-label
    lf = BCEWithLogitsLossFlat()
    xm, ym, mx = cls().mix((x,), (y,))
    l = mx.lam[:, None]
    torch.testing.assert_close(ym[0], l * y + (1 - l) * y[mx.perm])
    pred = torch.randn(8, 5)
    assert not mx.reweighs and torch.equal(mx.loss(lf, pred), lf(pred, ym[0]))   # nothing to weigh: the plain loss

def test_one_hot_targets_mix_to_the_mixed_proportions():
    set_seed(8)
    x, y = images(8), torch.eye(8)
    xm, ym, mx = FMix().mix((x,), (y,))
    yy = ym[0]
    torch.testing.assert_close(yy[torch.arange(8), torch.arange(8)], mx.lam)
    torch.testing.assert_close(yy[torch.arange(8), mx.perm], 1 - mx.lam)

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_integer_label_maps_are_cut_with_the_mask(cls):
    set_seed(9)
    x = torch.arange(6.).view(6, 1, 1, 1).expand(6, 3, 16, 16)   # each image a constant = its index
    y = torch.arange(6).view(6, 1, 1).expand(6, 16, 16)          # and its label map too
    xm, ym, mx = cls().mix((x,), (y,))
    # every pixel's label is the sample its pixel came from
    assert torch.equal(xm[0][:, 0].long(), ym[0])
    assert mx.kinds == ('dense',) and not any(mx.weighed)

def test_mixup_weighs_integer_label_maps_in_the_loss():
    y = torch.randint(0, 3, (4, 8, 8))
    xm, ym, mx = MixUp().mix((images(4, spatial=(8, 8)),), (y,))
    assert ym[0] is y and mx.kinds == ('dense',) and mx.weighed == (True,)
    assert torch.isfinite(mx.loss(CrossEntropyLossFlat(axis=1), torch.randn(4, 3, 8, 8)))

# --- several inputs ---------------------------------------------------------------------------------

def test_several_inputs_share_partners_and_masks():
    set_seed(10)
    img, img2 = images(6), images(6)
    meta, codes = torch.randn(6, 4), torch.randint(0, 9, (6, 2))
    xm, ym, mx = CutMix().mix((img, img2, meta, codes), (torch.arange(6),))
    m, l, p = mx.mask, mx.lam, mx.perm
    torch.testing.assert_close(xm[1], m * img2 + (1 - m) * img2[p])
    torch.testing.assert_close(xm[2], l[:, None] * meta + (1 - l[:, None]) * meta[p])
    assert torch.equal(xm[3], torch.where((l >= .5)[:, None], codes, codes[p]))

# --- bad batches ------------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_integer_images_rejected(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}: cannot mix an input of dtype torch.uint8 \(shape \(4, 3, 8, 8\)\)"):
        cls().mix((torch.zeros(4, 3, 8, 8, dtype=torch.uint8),), (torch.arange(4),))

@pytest.mark.parametrize('cls', [CutMix, FMix])
@pytest.mark.parametrize('shape', [(4, 10), (4, 1, 2, 3, 4, 5)])
def test_no_spatial_dims_rejected(cls, shape):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: needs an input .* got shapes \[{tuple(shape)}\].* use MixUp".replace('(', r'\(').replace(')', r'\)')):
        cls().mix((torch.randn(shape),), (torch.arange(4),))

def test_mixup_tabular_ok_tokens_rejected():
    xm, ym, mx = MixUp().mix((torch.randn(5, 3),), (torch.arange(5),))
    with pytest.raises(TypeError, match="MixUp: no floating-point input"): MixUp().mix((torch.randint(0, 9, (5, 7)),), (torch.arange(5),))

def test_batch_size_mismatch_named():
    with pytest.raises(ValueError, match=r"FMix: every input and target needs the batch size 4"): FMix().mix((images(4),), (torch.arange(5),))

# --- the loss's reduction -------------------------------------------------------------------------------

@pytest.mark.parametrize('lf', [nn.CrossEntropyLoss(weight=torch.tensor([.1, 5, 5])), CrossEntropyLossFlat(weight=torch.tensor([.1, 5, 5])),
                                nn.CrossEntropyLoss(ignore_index=2), CrossEntropyLossFlat(ignore_index=2)],
                         ids=['weight', 'weight-flat', 'ignore', 'ignore-flat'])
def test_weighted_and_ignoring_losses_reduce_as_torch(lf):
    "At λ = 1 the mixed loss is the loss itself; mixed, it is the λ-blend of the weighted sums over the blended weights"
    set_seed(11)
    x, y, pred = images(12), torch.randint(0, 3, (12,)), torch.randn(12, 3)
    _, _, mx = MixUp(alpha=1e-6, max_lam=True).mix((x,), (y,))
    torch.testing.assert_close(mx.lam, torch.ones(12))
    torch.testing.assert_close(mx.loss(lf, pred), lf(pred, y))
    _, _, mx = CutMix().mix((x,), (y,))
    f = getattr(lf, 'func', lf)
    w = (f.weight if f.weight is not None else torch.ones(3))
    d = lambda t: w[t.clamp(0, 2)] * (t != f.ignore_index)
    ce = lambda t: F.cross_entropy(pred, t, weight=f.weight, ignore_index=f.ignore_index, reduction='none')
    l, p = mx.lam, mx.perm
    want = (l * ce(y) + (1 - l) * ce(y[p])).sum() / (l * d(y) + (1 - l) * d(y[p])).sum()
    torch.testing.assert_close(mx.loss(lf, pred), want)

def test_weighted_label_map_loss_reduces_as_torch():
    set_seed(12)
    y = torch.randint(0, 3, (4, 6, 6)); y[0, :2] = 255
    lf = CrossEntropyLossFlat(axis=1, weight=torch.tensor([1., 2., 3.]), ignore_index=255)
    _, _, mx = MixUp(p=0.).mix((images(4, spatial=(6, 6)),), (y,))
    pred = torch.randn(4, 3, 6, 6)
    torch.testing.assert_close(mx.loss(lf, pred), lf(pred, y))

def test_mix_soft_matches_the_class_index_loss():
    for cls in ALL:
        x, y, pred = images(10), torch.randint(0, 4, (10,)), torch.randn(10, 4)
        set_seed(13); xm, ym, mx = cls(label_smoothing=.1).mix((x,), (y,))
        set_seed(13); xs, ys = cls(label_smoothing=.1).mix_soft(x, y, num_classes=4)
        assert torch.equal(xs, xm[0]) and ys.shape == (10, 4)
        torch.testing.assert_close(ys.sum(1), torch.ones(10))
        torch.testing.assert_close(nn.CrossEntropyLoss()(pred, ys), mx.loss(nn.CrossEntropyLoss(), pred))
    with pytest.raises(TypeError, match="MixUp: `mix_soft` needs class indices"): MixUp().mix_soft(x, ys, 4)
    with pytest.raises(ValueError, match="MixUp: `num_classes`"): MixUp().mix_soft(x, y, 2)


def test_arguments_and_edge_cases_of_every_mixer():
    "Arguments checked at construction, naming the mixer; repr; full signatures; schedules checked per batch; one sample, none, keypoints"
    import inspect
    import numpy as np
    from torch import Tensor
    from fastcore.test import test_eq, test_fail, test_is
    from fastmix.mixing import OneOfMix
    from fastmix.methods import MixUp, CutMix, FMix
    xb, yb = (torch.linspace(0, 1, 6).view(6, 1, 1, 1).expand(6, 1, 8, 8),), (torch.arange(6),)
    test_eq(repr(FMix(1.)), "FMix(alpha=1.0, decay_power=3.0, max_soft=0.0, max_lam=False, mode='elem')")
    test_eq(MixUp(.4).alpha, .4); assert MixUp().max_lam and not CutMix().max_lam and not FMix().max_lam
    test_eq(MixUp(np.float32(.5)).alpha, .5); test_eq(CutMix(p=np.float64(.5)).p, .5); test_eq(FMix(off_epoch=np.int64(3)).off_epoch, 3)
    for cls in (MixUp, CutMix, FMix):
        for bad in (0, -1., float('nan'), float('inf')):
            test_fail(lambda: cls(bad), contains=f"{cls.__name__}: `alpha`")
        test_fail(lambda: cls('1'), contains=f"{cls.__name__}: `alpha` must be a number")
        test_fail(lambda: cls(mode='pair'), contains=f"{cls.__name__}: `mode`")
        test_fail(lambda: cls(max_lam=1), contains=f"{cls.__name__}: `max_lam`")
        for bad in ('labels', (), ('label', 'pixels'), 3): test_fail(lambda: cls(targets=bad), contains=f"{cls.__name__}: `targets`")
        for bad in (-.1, 1., 1.5, float('nan'), '0.1'): test_fail(lambda: cls(label_smoothing=bad), contains=f"{cls.__name__}: `label_smoothing`")
        test_eq(cls(targets='label').targets, ('label',)); test_eq(cls(targets=['dense', 'keep']).targets, ('dense', 'keep'))
    test_fail(lambda: MixUp(label_smoothing=1.), contains="must be a finite number in [0, 1), got 1.0")
    for bad in (0, -2., float('inf')): test_fail(lambda: FMix(decay_power=bad), contains="FMix: `decay_power`")
    for bad in (-.1, .6, float('nan')): test_fail(lambda: FMix(max_soft=bad), contains="FMix: `max_soft`")
    FMix(max_soft=0.); FMix(max_soft=.5)
    for bad in ((.5,), (.6, .2), (0, .5), (.2, 1.2), .5, ('a', .5)): test_fail(lambda: CutMix(minmax=bad), contains="CutMix: `minmax`")
    test_eq(CutMix(minmax=[.2, .8]).minmax, (.2, .8))
    test_fail(lambda: FMix(reformulate=1), contains="FMix: `reformulate`")
    test_eq(repr(CutMix(minmax=(.2, .8), label_smoothing=.1)),
            "CutMix(alpha=1.0, minmax=(0.2, 0.8), max_lam=False, mode='elem', label_smoothing=0.1)")
    test_eq(repr(FMix(reformulate=True, targets='dense')),
            "FMix(alpha=1.0, decay_power=3.0, max_soft=0.0, reformulate=True, max_lam=False, mode='elem', targets=('dense',))")
    # every argument shows in the signature (fastcore's `delegates`), none hidden in **kwargs
    for cls in (MixUp, CutMix, FMix, OneOfMix):
        ps = inspect.signature(cls).parameters
        assert {'mode', 'p', 'off_epoch', 'targets', 'label_smoothing'} <= set(ps) and 'kwargs' not in ps, (cls, list(ps))
    assert 'alpha' not in inspect.signature(OneOfMix).parameters
    test_fail(lambda: OneOfMix(MixUp(), CutMix(), alpha=2.), contains="OneOfMix: `alpha` belongs to each method")
    test_fail(lambda: OneOfMix(MixUp(), CutMix(), max_lam=True), contains="OneOfMix: `max_lam` belongs to each method")
    test_eq(OneOfMix(MixUp(), CutMix(), probs=np.array([1., 3.])).probs, torch.tensor([.25, .75]))
    test_eq(OneOfMix(MixUp(), CutMix(), probs=torch.tensor([1., 1.])).probs, torch.tensor([.5, .5]))
    test_fail(lambda: OneOfMix(MixUp(), FMix(reformulate=True)), contains="batch-wide")
    test_fail(lambda: OneOfMix(MixUp(mode='batch'), FMix()), contains="batch-wide")
    # a schedule is checked at every batch, not only at 0, .5 and 1
    bumpy = lambda pos: 2. if .6 < pos < .7 else .5
    c = CutMix(p=bumpy); c.mix(xb, yb, pct_train=.2)
    test_fail(lambda: c.mix(xb, yb, pct_train=.65), contains="CutMix: `p` must be a finite number in [0, 1], got 2.0 (the schedule's value at progress 0.65)")
    # a lone sample has no partner: not mixed, λ = 1
    x1 = xb[0][:1]
    xm1, _, m1 = FMix().mix((x1,), (yb[0][:1],)); test_eq(m1.lam, torch.ones(1)); test_eq(m1.shift, 0); test_is(xm1[0], x1)
    # an empty batch passes through
    for cls in (MixUp, CutMix, FMix):
        e = torch.zeros(0, 3, 8, 8); xe, _, me = cls().mix((e,), (torch.zeros(0, dtype=torch.long),)); test_is(xe[0], e); test_eq(me.lam.shape, (0,))
    # keypoints and boxes are refused, unless kept
    class TensorPoint(Tensor): pass
    pts = torch.rand(4, 5, 2).as_subclass(TensorPoint)
    test_fail(lambda: MixUp().mix((torch.rand(4, 3, 8, 8),), (pts,)), contains="MixUp: target 0 holds keypoints (TensorPoint of shape (4, 5, 2)), which cannot be mixed")
    _, ym, _ = MixUp(targets='keep').mix((torch.rand(4, 3, 8, 8),), (pts,)); test_is(ym[0], pts)

def test_the_names_of_0_1_still_work_and_warn():
    "Sampler, sample_lam and masks are aliases of BetaMixer, draw_lam and draw_masks until 0.3, each warning with its new name; a subclass written for `masks` is still drawn from"
    import fastmix, fastmix.mixing
    from fastmix.mixing import BetaMixer, OneOfMix
    assert fastmix.__version__ == '0.2.1'
    with pytest.warns(DeprecationWarning, match=r"fastmix.mixing.Sampler is renamed BetaMixer since fastmix 0.2; the old name goes in 0.3"):
        from fastmix.mixing import Sampler
    assert Sampler is BetaMixer and isinstance(CutMix(), Sampler)
    with pytest.warns(DeprecationWarning, match="BetaMixer.sample_lam is renamed draw_lam"):
        torch.manual_seed(0); a = FMix(1.).sample_lam(5)
    torch.manual_seed(0); assert torch.equal(a, FMix(1.).draw_lam(5))
    lam = torch.full((3,), .5)
    with pytest.warns(DeprecationWarning, match="BetaMixer.masks is renamed draw_masks"):
        torch.manual_seed(0); m1 = CutMix().masks(lam, (8, 8), torch.float32)
    torch.manual_seed(0); m2 = CutMix().draw_masks(lam, (8, 8), torch.float32)
    assert all(torch.equal(u, v) for u, v in zip(m1, m2))
    class Halves(FMix):                                          # written against 0.1: overrides `masks`
        def masks(self, lam, spatial, dtype):
            m = torch.zeros(len(lam), 1, *spatial, dtype=dtype); m[..., :spatial[-1] // 2] = 1
            return m, torch.full((len(lam),), .5)
    for mixer in (Halves(), OneOfMix(Halves())):
        with pytest.warns(DeprecationWarning, match="Halves.masks is renamed draw_masks"):
            _, _, mx = mixer.mix((images(),), (torch.arange(8),))
        assert torch.equal(mx.lam, torch.full((8,), .5)) and mx.mask[..., :5].eq(1).all() and mx.mask[..., 5:].eq(0).all()
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"): fastmix.mixing.Nope

def test_the_command_helpers_of_0_1_warn_from_fastmix_cli():
    "Each helper that moved out of fastmix.cli still imports from there, warning with its new home; the command itself never warns"
    import warnings, fastmix.cli as cli
    from fastmix import checks, comparison, data, measures
    for name, home in cli._MOVED.items():
        with pytest.warns(DeprecationWarning, match=rf"fastmix.cli.{name} moved to {home}.{name}: import it from there .* 0.3"):
            got = getattr(cli, name)
        assert got is getattr({'fastmix.checks': checks, 'fastmix.data': data, 'fastmix.measures': measures,
                               'fastmix.comparison': comparison}[home], name)
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        assert cli.compare and cli.main and cli.resolve(data='digits').epochs
