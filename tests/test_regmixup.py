"""RegMixup (issue 36): `regmix=η` on every mixer trains on the clean batch and its mix together: each input becomes
2B rows (the clean ones first), and every batch's loss is the clean loss plus η times the mix's, computed here by hand
through real `Learner.fit` runs; unmixed batches are not doubled; what cannot take it is refused."""
from functools import partial
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastmix import methods
from fastmix.callbacks import MixUp, CutMix, OneOfMix
from fastmix.manifold import ManifoldMix
from fastmix.show import mixed_batch
from fastmix.demo import small_cnn
from test_loss_contract import dls_of, Seen

class Inputs(Callback):
    "Each training batch's inputs as the model gets them, and the batch as the DataLoader yielded it"
    order = -10
    def __init__(self): self.seen = []
    def before_batch(self):
        if self.training: self.yielded = self.learn.xb[0].clone()
    def after_pred(self):
        if self.training: self.seen.append((self.yielded, self.learn.xb[0].detach().clone()))

def mixed_by_hand(m, pred, y, ls=0., red='mean'):
    "The mix's loss: each row's cross entropy on its own class and its partner's, blended by λ"
    ce = lambda t: F.cross_entropy(pred, t, reduction='none', label_smoothing=ls)
    v = m.lam * ce(y) + (1 - m.lam) * ce(y[m.perm])
    return v.sum() if red == 'sum' else v.mean()

CASES = {   # name -> (callback, loss function, reduction, smoothing, η)
    'MixUp(20) η=1': (lambda: MixUp(20., regmix=1.), CrossEntropyLossFlat(), 'mean', 0., 1.),
    'CutMix sum η=.5 p=.5': (lambda: CutMix(1., regmix=.5, p=.5), partial(F.cross_entropy, reduction='sum'), 'sum', 0., .5),
    'MixUp smoothed': (lambda: MixUp(10., regmix=1., label_smoothing=.1), nn.CrossEntropyLoss(), 'mean', .1, 1.),
    'OneOfMix': (lambda: OneOfMix(MixUp(10.), CutMix(1.), regmix=1.), nn.CrossEntropyLoss(), 'mean', 0., 1.),
}

@pytest.mark.parametrize('case', list(CASES))
def test_regmix_trains_on_the_clean_batch_and_its_mix(case):
    make, lf, red, ls, eta = CASES[case]
    cb, inputs = make(), Inputs()
    seen = Seen(cb)
    torch.manual_seed(0)
    learn = Learner(dls_of('class', 64), small_cnn(1, 10), lf, cbs=[cb, seen, inputs])
    learn.fit(1)
    assert learn.loss_func is lf
    n = 0
    for (loss, m, pred), (yielded, given) in zip(seen.seen, inputs.seen):
        y, bs = m.yb[0], len(m.lam)
        assert len(pred) == len(given) == 2 * bs and m.clean is not None and m.shift != 0
        assert torch.equal(given[:bs], yielded) and not torch.equal(given[bs:], yielded)   # the clean rows, then the mix
        clean = F.cross_entropy(pred[:bs], y, reduction=red, label_smoothing=ls)
        assert torch.allclose(loss, clean + eta * mixed_by_hand(m, pred[bs:], y, ls, red), rtol=1e-5, atol=1e-5), case
        n += 1
    assert n == len(learn.dls.train)

def test_an_unmixed_batch_is_not_doubled():
    x, y = torch.randn(8, 3, 8, 8), torch.arange(8)
    xb, yb, m = methods.MixUp(20., regmix=1., mode='batch', p=0.).mix((x,), (y,))
    assert xb[0] is x and m.clean is None
    pred = torch.randn(8, 10)
    assert torch.equal(m.loss(F.cross_entropy, pred), F.cross_entropy(pred, y))

def test_every_input_is_doubled_and_the_targets_are_the_mix_s():
    "Several inputs (an image and tabular columns), a one-hot target: the clean rows first in each, the targets for the mix"
    torch.manual_seed(0)
    x, t, y = torch.randn(8, 3, 8, 8), torch.randn(8, 4), F.one_hot(torch.arange(8) % 3, 3).float()
    (xm, tm), (ym,), m = methods.MixUp(10., regmix=2.).mix((x, t), (y,))
    assert torch.equal(xm[:8], x) and torch.equal(tm[:8], t) and xm.shape[0] == tm.shape[0] == 16
    assert torch.allclose(ym, m.lam[:, None] * y + (1 - m.lam[:, None]) * y[m.perm])
    soft_ce = lambda p, q, reduction='mean': (-(q * F.log_softmax(p, 1)).sum(1)).mean() if reduction == 'mean' else -(q * F.log_softmax(p, 1)).sum(1)
    pred = torch.randn(16, 3)
    assert torch.allclose(m.loss(soft_ce, pred), soft_ce(pred[:8], y) + 2 * soft_ce(pred[8:], ym))

def test_the_viewer_shows_the_mix():
    b = mixed_batch(dls_of('class', 64), MixUp(10., regmix=1.))
    assert len(b.mixed[0]) == len(b.b[0]) == len(b.lam)

def test_regmix_is_refused_where_it_cannot_work():
    with pytest.raises(ValueError, match=r"MixUp: `regmix` must be a finite number >= 0"): MixUp(regmix=-1.)
    with pytest.raises(TypeError, match=r"ManifoldMix: no argument `regmix`"): ManifoldMix(regmix=1.)
    with pytest.raises(ValueError, match=r"ManifoldMix: RegMixup .* doubles the batch at the input"): ManifoldMix(mask=MixUp(regmix=1.))
    with pytest.raises(ValueError, match=r"OneOfMix: .*batch-wide arguments.*regmix"): OneOfMix(MixUp(regmix=1.), CutMix())
    with pytest.raises(ValueError, match=r"CutMix: `mix_soft` returns one target per input row, and `regmix` doubles"):
        methods.CutMix(regmix=1.).mix_soft(torch.randn(4, 3, 8, 8), torch.arange(4), 4)
    _, _, m = methods.MixUp(regmix=1.).mix((torch.randn(4, 3),), (torch.arange(4),))
    with pytest.raises(ValueError, match=r"MixUp: with `regmix` the model sees the clean batch and its mix \(8 rows\).*got \(4, 4\)"):
        m.loss(F.cross_entropy, torch.randn(4, 4))

def test_the_command_takes_regmix():
    from fastmix.cli import settings, parser, BadInput
    s = settings(regmix=1., mixup=20.)
    assert list(s) == ['none', 'MixUp(20, regmix=1)'] and s['MixUp(20, regmix=1)']().regmix == 1.
    assert list(settings(regmix=1., decouple=.1, cutmix=1.)) == ['none', 'CutMix(1, decouple=0.1, regmix=1)']
    assert parser().parse_args(['--regmix', '1', '--mixup', '20']).regmix == 1.
    with pytest.raises(BadInput, match=r"--regmix must be an η of 0 or more, got -1"): settings(regmix=-1., mixup=1.)
