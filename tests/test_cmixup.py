"""C-Mixup (issue 36): `bandwidth=σ` on every mixer chooses each row's partner by its float target, row j ≠ i with
probability ∝ exp(-‖yᵢ - yⱼ‖² / 2σ²): the draws against the kernel, the record and the mix with chosen partners, a
tabular regression fit (MixUp and ManifoldMix) whose every loss is checked by hand, and the refusals."""
import pytest, torch
import torch.nn.functional as F
import pandas as pd
from fastai.learner import Learner
from fastmix import methods
from fastmix.mixing import kernel_partners
from fastmix.callbacks import MixUp, CutMix, OneOfMix
from fastmix.manifold import ManifoldMix
from test_loss_contract import Seen

def kernel(y, sigma):
    "The probabilities C-Mixup draws partners with, row by row, computed in float64 with a loop"
    B, P = len(y), torch.zeros(len(y), len(y), dtype=torch.float64)
    for i in range(B):
        for j in range(B):
            if i != j: P[i, j] = torch.exp(-((y[i] - y[j]).double() ** 2).sum() / (2 * sigma ** 2))
    return P / P.sum(1, keepdim=True)

@pytest.mark.parametrize('sigma', [.3, 1., 5.])
def test_partners_are_drawn_by_the_kernel(sigma):
    torch.manual_seed(0)
    y = torch.tensor([[0.], [.2], [.5], [1.5], [1.6], [3.]])
    n, threads = 2000, torch.get_num_threads()
    counts = torch.zeros(6, 6, dtype=torch.float64)
    torch.set_num_threads(1)                                               # tiny ops: one thread is many times faster here
    try:
        for _ in range(n): counts[torch.arange(6), kernel_partners(y, sigma)] += 1
    finally: torch.set_num_threads(threads)
    P = kernel(y, sigma)
    assert (counts.diagonal() == 0).all()                                  # never itself
    assert (counts / n - P).abs().max() < 4 * (P * (1 - P) / n).sqrt().max() + 1e-3   # within 4 standard errors

def test_the_mix_uses_the_chosen_partners():
    torch.manual_seed(0)
    x, y = torch.randn(8, 3, 8, 8), torch.tensor([0., .1, 2., 2.1, 5., 5.1, 9., 9.2])
    (xm,), (ym,), m = methods.CutMix(1., bandwidth=.2).mix((x,), (y,))
    assert m.chosen is not None and torch.equal(m.perm, m.chosen) and torch.equal(m.perm, torch.tensor([1, 0, 3, 2, 5, 4, 7, 6]))
    assert torch.allclose(xm, m.mask * x + (1 - m.mask) * x[m.perm])
    assert torch.allclose(ym, m.lam * y + (1 - m.lam) * y[m.perm])       # float targets mixed by λ
    (xm,), (ym,), m = methods.MixUp(1., bandwidth=.2, mode='batch').mix((x,), (y,))
    assert torch.allclose(xm, m.lam.view(-1, 1, 1, 1) * x + (1 - m.lam.view(-1, 1, 1, 1)) * x[m.perm])
    _, _, m = methods.SaliencyMix(1., bandwidth=.2).mix((x,), (y,))   # the masks that read the partner get the chosen one
    assert torch.equal(m.perm, torch.tensor([1, 0, 3, 2, 5, 4, 7, 6]))

def diabetes_learner(cb, seen):
    from sklearn.datasets import load_diabetes
    from fastai.tabular.all import TabularDataLoaders, tabular_learner, Normalize
    d = load_diabetes(as_frame=True).frame
    d['target'] = (d['target'] - d['target'].mean()) / d['target'].std()
    dls = TabularDataLoaders.from_df(d, procs=[Normalize], cont_names=list(d.columns[:-1]), y_names='target', bs=64,
                                     valid_idx=list(range(350, 442)), device='cpu')
    return tabular_learner(dls, layers=[32], cbs=[cb, seen], y_range=None)

@pytest.mark.parametrize('which', ['MixUp', 'ManifoldMix'])
def test_a_regression_fit_mixes_similar_targets(which):
    cb = MixUp(1., bandwidth=.3) if which == 'MixUp' else ManifoldMix(1., bandwidth=.3)
    seen = Seen(cb)
    torch.manual_seed(0)
    learn = diabetes_learner(cb, seen)
    learn.fit(2, 1e-2)
    gaps, n = [], 0
    for loss, m, pred in seen.seen:
        if m is None or not m.shift: continue
        assert m.chosen is not None and (m.chosen != torch.arange(len(m.lam))).all()
        y = m.yb[0]
        assert torch.allclose(loss, F.mse_loss(pred, y), rtol=1e-5, atol=1e-6)             # the loss on the mixed targets
        n += 1
    assert n == 2 * len(learn.dls.train)
    # the partners' targets are near: mixed with a partner within 1 σ-unit far more often than by a shift
    torch.manual_seed(1)
    y = torch.randn(64, 1)
    near = lambda perm: ((y - y[perm]).abs() < .3).float().mean()
    assert near(kernel_partners(y, .3)) > 2 * near((torch.arange(64) - 1) % 64)

def test_bandwidth_is_refused_where_it_cannot_work():
    with pytest.raises(ValueError, match=r"MixUp: `bandwidth` must be a finite number > 0, got 0"): MixUp(bandwidth=0)
    with pytest.raises(ValueError, match=r"OneOfMix: .*batch-wide arguments.*bandwidth"): OneOfMix(MixUp(bandwidth=1.), CutMix())
    with pytest.raises(TypeError, match=r"CutMix: `bandwidth` \(C-Mixup\) chooses partners by their float targets.*int64"):
        methods.CutMix(bandwidth=1.).mix((torch.randn(4, 3, 8, 8),), (torch.arange(4),))
    assert repr(MixUp(2., bandwidth=.5)) == "MixUp(alpha=2.0, max_lam=True, mode='elem', bandwidth=0.5)"
