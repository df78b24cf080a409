"""Decoupled Mixup (issue 36): `decouple=η` on every mixer adds, for each mixed row, η times the cross entropy of each
of its two classes over the classes without the other one. Checked against a per-row computation by hand, through
real `Learner.fit` runs (class indices, one-hot targets, label smoothing, `reduction='sum'`, class weights,
`ignore_index`, rows left unmixed, ManifoldMix), and the refusals."""
import copy
from functools import partial
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastmix import methods
from fastmix.callbacks import MixUp, CutMix, FMix, SmoothMix, OneOfMix
from fastmix.manifold import ManifoldMix
from fastmix.losses import decoupled_terms
from fastmix.demo import small_cnn
from test_loss_contract import dls_of, Seen
from test_function_losses import W

def dm_by_hand(pred, a, b, lam, ignore=-100):
    "Per row, a loop: -log softmax of a's logit among the classes but b, plus the same for b; 0 where it does not apply"
    out = []
    for i in range(len(a)):
        ai, bi, l = int(a[i]), int(b[i]), float(lam[i])
        if ai == bi or not 0 < l < 1 or ignore in (ai, bi): out.append(torch.zeros((), dtype=torch.float32)); continue
        t = 0
        for c, other in ((ai, bi), (bi, ai)):
            keep = [k for k in range(pred.shape[1]) if k != other]
            t = t - F.log_softmax(pred[i, keep].float(), 0)[keep.index(c)]
        out.append(t)
    return torch.stack(out)

def test_the_regulariser_is_the_cross_entropy_without_the_other_class():
    torch.manual_seed(0)
    pred, a = torch.randn(12, 7) * 3, torch.randint(0, 7, (12,))
    b = (a + torch.randint(1, 7, (12,))) % 7                             # another class
    b[:3] = a[:3]                                                        # the same class: nothing
    assert torch.allclose(decoupled_terms(pred, a, b), dm_by_hand(pred, a, b, torch.full((12,), .5)), atol=1e-5)
    assert (decoupled_terms(pred, a, b)[:3] == 0).all() and (decoupled_terms(pred, a, b)[3:] > 0).all()
    big = torch.tensor([[80., -80., 0.]])                                 # no overflow where one class dominates
    assert torch.isfinite(decoupled_terms(big, torch.tensor([1]), torch.tensor([0]))).all()

def without_dm(m):
    "The same record without the regulariser"
    m0 = copy.copy(m); m0.decouple = 0.
    return m0

def reduce(t, how): return t.sum() if how == 'sum' else t.mean()

CASES = {   # name -> (callback, loss function, its reduction, ignore_index)
    'CutMix CE': (lambda: CutMix(1., decouple=.1, p=.5), nn.CrossEntropyLoss(), 'mean', -100),
    'MixUp flat smoothed': (lambda: MixUp(1., decouple=.5, label_smoothing=.1), CrossEntropyLossFlat(), 'mean', -100),
    'SmoothMix sum': (lambda: SmoothMix(.5, decouple=.1), partial(F.cross_entropy, reduction='sum'), 'sum', -100),
    'FMix weighted': (lambda: FMix(1., decouple=.1), nn.CrossEntropyLoss(weight=W), 'mean', -100),
    'OneOfMix ignore': (lambda: OneOfMix(MixUp(1.), CutMix(1.), decouple=.1), nn.CrossEntropyLoss(ignore_index=3), 'mean', 3),
    'ManifoldMix': (lambda: ManifoldMix(1., modules=['1'], decouple=.1), nn.CrossEntropyLoss(), 'mean', -100),
}

@pytest.mark.parametrize('case', list(CASES))
def test_decouple_adds_eta_times_the_regulariser_to_every_batch(case):
    make, lf, how, ignore = CASES[case]
    cb = make()
    seen = Seen(cb)
    torch.manual_seed(0)
    Learner(dls_of('class', 64), small_cnn(1, 10), lf, cbs=[cb, seen]).fit(1)
    checked = 0
    for loss, m, pred in seen.seen:
        if m is None or not m.shift: continue
        y = m.yb[0]
        extra = reduce(m.decouple * dm_by_hand(pred, y, y[m.perm], m.lam, ignore), how)
        assert torch.allclose(loss, without_dm(m).loss(lf, pred) + extra, rtol=1e-5, atol=1e-5), case
        checked += extra > 0
    assert checked, "the regulariser never added anything"

def test_decouple_with_one_hot_targets():
    "timm's form: one-hot targets mixed by λ; the classes are read before the mix"
    torch.manual_seed(0)
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 5, (16,))
    one_hot = F.one_hot(y, 5).float()
    xm, (ym,), m = methods.CutMix(1., decouple=.2).mix((x,), (one_hot,))
    assert torch.equal(m.classes, y)
    pred = torch.randn(16, 5, requires_grad=True)
    soft_ce = lambda p, t, reduction='mean': (-(t * F.log_softmax(p, 1)).sum(1)).mean() if reduction == 'mean' else -(t * F.log_softmax(p, 1)).sum(1)
    want = soft_ce(pred, ym) + .2 * dm_by_hand(pred, y, y[m.perm], m.lam).mean()
    got = m.loss(soft_ce, pred)
    assert torch.allclose(got, want, atol=1e-5)
    got.backward()
    assert torch.isfinite(pred.grad).all()

def test_unmixed_batches_and_rows_add_nothing():
    x, y = torch.randn(8, 3, 8, 8), torch.arange(8)
    _, _, m = methods.CutMix(1., decouple=1., p=0.).mix((x,), (y,))
    pred = torch.randn(8, 10)
    assert not m.decoupled and torch.equal(m.loss(F.cross_entropy, pred), F.cross_entropy(pred, y))
    _, _, m = methods.MixUp(1., decouple=1., mode='batch', p=0.).mix((x,), (y,))
    assert torch.equal(m.loss(F.cross_entropy, pred), F.cross_entropy(pred, y))

def test_decouple_is_refused_where_it_has_no_meaning():
    with pytest.raises(ValueError, match=r"CutMix: `decouple` must be a finite number >= 0"): CutMix(decouple=-.1)
    with pytest.raises(TypeError, match=r"MixUp: `decouple` must be a number"): MixUp(decouple='a lot')
    with pytest.raises(ValueError, match=r"FMix: `decouple` weighs the two classes.*reformulate"): FMix(reformulate=True, decouple=.1)
    with pytest.raises(ValueError, match=r"OneOfMix: .*batch-wide arguments.*decouple"): OneOfMix(MixUp(decouple=.1), CutMix())
    with pytest.raises(ValueError, match=r"ManifoldMix: give decouple to the `mask` mixer"): ManifoldMix(mask=CutMix(), decouple=.1)
    x = torch.randn(4, 3, 8, 8)
    with pytest.raises(ValueError, match=r"MixUp: `decouple` \(Decoupled Mixup\) needs class targets.*\(4,\)"):
        methods.MixUp(decouple=.1).mix((x,), (torch.randn(4),))                     # regression
    with pytest.raises(ValueError, match=r"CutMix: `decouple` \(Decoupled Mixup\) needs class targets.*\(4, 8, 8\)"):
        methods.CutMix(decouple=.1).mix((x,), (torch.randint(0, 2, (4, 8, 8)),))    # a label map
    _, _, m = methods.CutMix(decouple=.1).mix((x,), (torch.arange(4),))
    with pytest.raises(ValueError, match=r"CutMix: `decouple` needs predictions of one score per class \(B, C\), got shape \(4, 2, 8\)"):
        m.loss(F.cross_entropy, torch.randn(4, 2, 8))
    assert repr(CutMix(.2, decouple=.1)) == "CutMix(alpha=0.2, max_lam=False, mode='elem', decouple=0.1)"

def test_the_command_takes_decouple():
    from fastmix.cli import settings, parser, BadInput
    s = settings(decouple=.1, cutmix=.2, mixup=1.)
    assert list(s) == ['none', 'CutMix(0.2, decouple=0.1)', 'MixUp(1, decouple=0.1)', 'OneOfMix(CutMix, MixUp, decouple=0.1)']
    assert s['CutMix(0.2, decouple=0.1)']().decouple == .1 and s['OneOfMix(CutMix, MixUp, decouple=0.1)']().decouple == .1
    assert list(settings(cutmix=.2)) == ['none', 'CutMix(0.2)']                       # without it, the names of before
    assert parser().parse_args(['--decouple', '0.1', '--cutmix', '1']).decouple == .1
    with pytest.raises(BadInput, match=r"--decouple must be an η of 0 or more, got -1"): settings(decouple=-1., cutmix=1.)
