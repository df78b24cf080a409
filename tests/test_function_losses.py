"""Function losses are weighed as their `nn.Module` twins are (the third week's items 1 and 2), through real
`Learner.fit` runs: after every `after_loss`, `loss_grad` is the λ-weighted loss computed here by hand from the
record (λ, masks, partners) and torch's own per-item cross entropy, for `reduction='sum'`, class weights and
`ignore_index`, under every method and ManifoldMix, on mixed and unmixed batches (`p=.5`, `off_epoch`). A function
whose normalisation fastmix cannot read is refused with a message naming the loss and the module form."""
from functools import partial
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat
from fastmix.callbacks import MixUp, CutMix, FMix, GridMix, SmoothMix, SaliencyMix, ResizeMix, OneOfMix
from fastmix.manifold import ManifoldMix
from fastmix.demo import small_cnn
from fastmix.mixing import Mixed
from helpers import digits16
from test_loss_contract import dls_of, fcn, Seen

W = torch.linspace(.2, 3., 10)                 # class weights of the digits
W2 = torch.tensor([.4, 2.5])                   # of the label maps' two classes
IGNORE = 255

METHODS = {   # name -> callback, given (p, off_epoch)
    'MixUp': lambda **kw: MixUp(1., **kw), 'CutMix': lambda **kw: CutMix(1., **kw), 'FMix': lambda **kw: FMix(1., **kw),
    'GridMix': lambda **kw: GridMix(1., **kw), 'SmoothMix': lambda **kw: SmoothMix(1., **kw),
    'SaliencyMix': lambda **kw: SaliencyMix(1., **kw), 'ResizeMix': lambda **kw: ResizeMix(**kw),
    'OneOfMix': lambda **kw: OneOfMix(MixUp(1.), CutMix(1.), SmoothMix(1.), ResizeMix(), **kw),
    'ManifoldMix': lambda **kw: ManifoldMix(1., modules=['1'], **kw),
}

def f_sum(pred, y, reduction='sum'): return F.cross_entropy(pred, y, reduction=reduction)

CLASS_LOSSES = {   # name -> (the function loss, torch's cross entropy keywords it stands for)
    'partial sum': (partial(F.cross_entropy, reduction='sum'), dict(reduction='sum')),
    'def sum': (f_sum, dict(reduction='sum')),
    'partial weight': (partial(F.cross_entropy, weight=W), dict(weight=W)),
    'partial weight sum': (partial(partial(F.cross_entropy, weight=W), reduction='sum'), dict(weight=W, reduction='sum')),
    'module weight': (nn.CrossEntropyLoss(weight=W), dict(weight=W)),
}

def by_hand(m:Mixed, pred, ce:dict):
    "The loss the record says, from torch's per-item cross entropy: Σ blend(w·ce) / Σ blend(w) (mean) or Σ blend(w·ce) (sum)"
    w, ign = ce.get('weight'), ce.get('ignore_index', -100)
    red, y = ce.get('reduction', 'mean'), m.yb[0]
    if not m.weighed[0]: return F.cross_entropy(pred, y, **ce)             # the targets were mixed (or nothing was)
    yp = y.index_select(0, m.perm)
    lam = m.lam.view(-1, *[1] * (y.ndim - 1)) if y.ndim == 1 else m.mask[:, 0].expand_as(y.float())
    def parts(t):
        d = (t != ign).float() * (1 if w is None else w[t.clamp(0, len(w) - 1)])
        return F.cross_entropy(pred, t, **{**ce, 'reduction': 'none'}), d
    (l1, d1), (l2, d2) = parts(y), parts(yp)
    num = (lam * l1 + (1 - lam) * l2).sum()
    return num if red == 'sum' else num / (lam * d1 + (1 - lam) * d2).sum()

def fit_and_check(cb, dls, model, lf, ce, epochs=1):
    seen = Seen(cb)
    torch.manual_seed(0)
    learn = Learner(dls, model, lf, cbs=[cb, seen])
    learn.fit(epochs)
    assert learn.loss_func is lf
    mixed = [m for _, m, _ in seen.seen if m is not None and m.shift != 0]
    assert mixed, "nothing was mixed"
    for loss, m, pred in seen.seen:
        want = by_hand(m, pred, ce)
        assert torch.allclose(loss, want, rtol=1e-5, atol=1e-5), (cb, lf, m, float(loss), float(want))
    return seen

# every method with two losses on mixed rows, rows left unmixed (p=.5) and an unmixed epoch (off_epoch=1); three methods with all
CASES = [(m, l) for m in METHODS for l in ('partial sum', 'partial weight')] + \
        [(m, l) for m in ('MixUp', 'SmoothMix', 'ManifoldMix') for l in CLASS_LOSSES if l not in ('partial sum', 'partial weight')]

@pytest.mark.parametrize('method,loss', CASES)
def test_function_losses_are_weighed_as_their_module_twins(method, loss):
    lf, ce = CLASS_LOSSES[loss]
    seen = fit_and_check(METHODS[method](p=.5, off_epoch=1), dls_of('class', 64), small_cnn(1, 10), lf, ce, epochs=2)
    assert all(m.shift == 0 for _, m, _ in seen.seen[len(seen.seen) // 2:])              # the second epoch is not mixed
    if method != 'ManifoldMix': assert any(((m.lam == 1).any() & (m.lam < 1).any()) for _, m, _ in seen.seen)  # nor is every row

def seg_dls(border_from=0, shuffle=True):
    "Digit label maps with an ignored border (255) in the training items from `border_from` on, as segmentation data has"
    tr, va = digits16()
    def item(i, x):
        t = (x[0] > .3).long()
        if i >= border_from: t[:2, :] = IGNORE; t[:, -2:] = IGNORE
        return x, t
    return DataLoaders.from_dsets([item(i, x) for i, (x, _) in enumerate(tr[:128])], [item(0, x) for x, _ in va[:32]],
                                  bs=16, device='cpu', shuffle=shuffle)

SEG_LOSSES = {
    'partial ignore': (partial(F.cross_entropy, ignore_index=IGNORE), dict(ignore_index=IGNORE)),
    'partial weight ignore': (partial(F.cross_entropy, ignore_index=IGNORE, weight=W2), dict(ignore_index=IGNORE, weight=W2)),
    'flat module ignore': (CrossEntropyLossFlat(axis=1, ignore_index=IGNORE), dict(ignore_index=IGNORE)),
}

@pytest.mark.parametrize('method,loss', [(m, 'partial weight ignore') for m in ('MixUp', 'SmoothMix', 'CutMix', 'ResizeMix', 'FMix')]
                         + [('SmoothMix', 'partial ignore'), ('SmoothMix', 'flat module ignore')])
def test_label_map_losses_with_ignore_index(method, loss):
    "Ignored pixels are left out of the mean under every method (soft masks weigh per pixel, hard ones cut the map)"
    lf, ce = SEG_LOSSES[loss]
    fit_and_check(METHODS[method](), seg_dls(), fcn(), lf, ce)

def seg_loss(p, y, reduction='mean'): return F.cross_entropy(p, y, ignore_index=IGNORE, reduction=reduction)
def closure_weighted(p, y, reduction='mean'): return F.cross_entropy(p, y, weight=W, reduction=reduction)

@pytest.mark.parametrize('method', ['SmoothMix', 'MixUp'])
def test_a_function_that_normalises_itself_is_refused(method):
    "An ignore_index or class weights hidden in a function: a clear error at the first mixed batch, not a wrong scale"
    with pytest.raises(ValueError, match=rf"{method}: the loss function seg_loss .*CrossEntropyLossFlat"):
        Learner(seg_dls(), fcn(), seg_loss, cbs=METHODS[method]()).fit(1)
    with pytest.raises(ValueError, match=rf"{method}: the loss function closure_weighted .*weight"):
        Learner(dls_of('class'), small_cnn(1, 10), closure_weighted, cbs=METHODS[method]()).fit(1)

def test_an_ignored_border_that_comes_later_is_still_caught():
    "A closure's ignore_index first seen on a later batch: the check runs on every batch, so it is refused then"
    with pytest.raises(ValueError, match="seg_loss"):
        Learner(seg_dls(border_from=64, shuffle=False), fcn(), seg_loss, cbs=SmoothMix(1.)).fit(1)

def test_a_plain_function_loss_found_out_and_kept():
    "A function whose reduction fastmix reads nowhere (**kwargs) is found out on the batch: its sum stays a sum"
    def any_sum(pred, y, **kw): return F.cross_entropy(pred, y, reduction=kw.get('reduction', 'sum'))
    fit_and_check(CutMix(1.), dls_of('class'), small_cnn(1, 10), any_sum, dict(reduction='sum'))

def test_label_smoothing_module_with_class_weights():
    "fastai's LabelSmoothingCrossEntropyFlat(weight=w): its smoothing share is a plain mean, its NLL share a weighted one"
    eps, lf = .1, LabelSmoothingCrossEntropyFlat(weight=W)
    seen = Seen(MixUp(1.))
    Learner(dls_of('class'), small_cnn(1, 10), lf, cbs=[seen.mixer, seen]).fit(1)
    for loss, m, pred in seen.seen:
        logp, y = F.log_softmax(pred, 1), m.yb[0]
        smooth = -logp.mean(1).mean() * eps
        nll = lambda t: F.nll_loss(logp, t, reduction='none') * W[t]
        num = (m.lam * nll(y) + (1 - m.lam) * nll(y[m.perm])).sum()
        want = smooth + (1 - eps) * num / (m.lam * W[y] + (1 - m.lam) * W[y[m.perm]]).sum()
        assert torch.allclose(loss, want, rtol=1e-5, atol=1e-6)
    lam1 = Mixed(torch.ones(16), 1, torch.ones(1, 1, 1, 1), ('label',), ('weigh',), (y[:16],), owner='MixUp')
    test = pred[:16]
    assert torch.allclose(lam1.loss(lf, test), lf(test, y[:16]), rtol=1e-5)    # at λ = 1, the loss itself
