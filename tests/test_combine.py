"Training for real: choosing among methods, `p`, schedules and `off_epoch`, export and reuse."
import pytest, torch
from torch import nn
from fastai.callback.core import Callback
from fastai.callback.schedule import SchedLin, SchedNo, combine_scheds
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix, MixHandler
from fastmix.demo import digits_dls
from helpers import images, is_box, tiny_cnn

# --- choosing among methods ---------------------------------------------------------------------------

def test_one_of_mix_per_sample_each_row_its_own_method():
    set_seed(0)
    c = OneOfMix(MixUp(.4), CutMix(1.), FMix(1.), probs=[1, 1, 2])
    x = images(3000, 1, (16, 16))
    xm, ym, mx = c.mix((x,), (torch.arange(3000),))
    m = mx.mask.float()
    torch.testing.assert_close(xm[0], m * x + (1 - m) * x[mx.perm])          # one mixed batch
    torch.testing.assert_close(mx.lam, m.expand_as(x).flatten(1).mean(1))            # λ exact on every row
    share = torch.bincount(mx.choice, minlength=3).float() / 3000
    torch.testing.assert_close(share, torch.tensor([.25, .25, .5]), atol=.03, rtol=0)
    mixup, cutmix, fmix = (m[mx.choice == k, 0] for k in range(3))
    assert (mixup == mixup[:, :1, :1]).all() and (mixup[:, 0, 0] >= .5).all()      # constant masks, MixUp's max_lam
    assert set(cutmix.unique().tolist()) <= {0., 1.} and is_box(cutmix).all()      # boxes
    assert set(fmix.unique().tolist()) <= {0., 1.} and not is_box(fmix).all()      # blobs

def test_one_of_mix_per_batch():
    set_seed(1)
    c = OneOfMix(MixUp(), CutMix(), mode='batch')
    seen = set()
    for _ in range(20):
        xm, ym, mx = c.mix((images(8),), (torch.arange(8),))
        assert mx.choice.shape == (1,) and (mx.lam == mx.lam[0]).all() and mx.mask.shape[0] == 1
        seen.add(int(mx.choice))
    assert seen == {0, 1}

def test_one_of_mix_label_maps_weighed_pixel_by_pixel():
    "With MixUp among the methods a label map cannot be cut; weighing each pixel by its mask is the same loss"
    set_seed(2)
    x, y = images(6, 2, (8, 8)), torch.randint(0, 3, (6, 8, 8))
    c = OneOfMix(MixUp(), CutMix())
    xm, ym, mx = c.mix((x,), (y,))
    assert not c.hard_masks and mx.kinds == ('dense',) and ym[0] is y
    pred = torch.randn(6, 3, 8, 8)
    m = mx.mask.float()[:, 0]
    ce = nn.CrossEntropyLoss(reduction='none')
    torch.testing.assert_close(mx.loss(CrossEntropyLossFlat(axis=1), pred), (m * ce(pred, y) + (1 - m) * ce(pred, y[mx.perm])).mean())

def test_one_of_mix_arguments():
    for bad in [(), (1,), (MixUp, 'x'), (OneOfMix(MixUp()),)]:
        with pytest.raises(TypeError, match="OneOfMix: give one or more mixing methods \(MixUp, CutMix, FMix, GridMix"): OneOfMix(*bad)
    for probs in ([1], [1, -1], [0, 0], 'ab'):
        with pytest.raises((ValueError, TypeError), match="OneOfMix: `probs`"): OneOfMix(MixUp(), CutMix(), probs=probs)
    with pytest.raises(ValueError, match=r"OneOfMix: MixUp\(.*p=0.5.*\) has batch-wide arguments"): OneOfMix(MixUp(p=.5), CutMix())
    assert [type(m) for m in OneOfMix(MixUp, FMix).mixers] == [MixUp, FMix]       # classes, as fastai's cbs= takes them
    assert repr(OneOfMix(MixUp(), FMix(), probs=[3, 1])).startswith("OneOfMix(MixUp(alpha=0.4")

def test_one_of_mix_reproducible():
    runs = []
    for _ in range(2):
        set_seed(3)
        xm, ym, mx = OneOfMix(MixUp(), CutMix(), FMix()).mix((images(12),), (torch.arange(12),))
        runs.append((mx.choice, mx.lam, mx.mask, mx.shift, xm[0]))
    for a, b in zip(*runs): assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_one_of_mix_half_precision(dtype):
    xm, ym, mx = OneOfMix(MixUp(), CutMix(), FMix()).mix((images(9, dtype=dtype),), (torch.arange(9),))
    assert xm[0].dtype == dtype and mx.mask.dtype == dtype and mx.lam.dtype == torch.float32

# --- p -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', [MixUp, CutMix, FMix])
def test_p_zero_leaves_the_batch(cls):
    x, y = images(), torch.arange(8)
    xm, ym, mx = cls(p=0.).mix((x,), (y,))
    assert xm[0] is x and ym[0] is y and (mx.lam == 1).all() and mx.shift == 0 and not mx.reweighs

def test_p_per_sample():
    set_seed(4)
    x = images(2000, 1, (6, 6))
    xm, ym, mx = CutMix(p=.3).mix((x,), (torch.arange(2000),))
    stay = mx.lam == 1
    assert abs(stay.float().mean() - .7) < .04
    torch.testing.assert_close(xm[0][stay], x[stay])                          # unmixed rows are themselves
    m = mx.mask.float(); torch.testing.assert_close(xm[0], m * x + (1 - m) * x[mx.perm])

def test_p_per_batch():
    set_seed(5)
    mixed = 0
    for _ in range(200):
        x = images(4)
        xm, ym, mx = FMix(p=.25, mode='batch').mix((x,), (torch.arange(4),))
        mixed += xm[0] is not x
    assert 30 <= mixed <= 70

def test_p_and_alpha_schedules_follow_training():
    x = images(64)
    c = MixUp(alpha=SchedLin(2., 1e-3), max_lam=False, p=SchedLin(1., 0.))
    batch = (x,), (torch.arange(64),)
    _, _, mx = c.mix(*batch, pct_train=0.); assert (mx.lam < 1).all() and mx.lam.std() < .3     # Beta(2, 2): near .5
    xm, _, _ = c.mix(*batch, pct_train=1.); assert xm[0] is x                                  # p = 0 at the end
    c = MixUp(alpha=SchedLin(2., 1e-3), max_lam=False)
    _, _, mx = c.mix(*batch, pct_train=.9999); assert ((mx.lam < .02) | (mx.lam > .98)).float().mean() > .9  # alpha near 0
    xm, _, _ = MixUp(off_epoch=2).mix(*batch, epoch=2); assert xm[0] is x                      # off_epoch

def test_schedule_arguments_checked():
    with pytest.raises(ValueError, match=r"CutMix: `p` must be a finite number in \[0, 1\], got 1.5 \(the schedule's value at progress 0.5\)"):
        CutMix(p=SchedLin(1., 2.))
    with pytest.raises(TypeError, match="FMix: `alpha` is callable, so it must be a schedule"): FMix(alpha=lambda: 1.)
    for bad in (-1, 1.5, True, '2'):
        with pytest.raises(ValueError, match="MixUp: `off_epoch`"): MixUp(off_epoch=bad)

# --- off_epoch, and schedules in a real fit ---------------------------------------------------------

class MixedOrNot(Callback):
    "Records, per training batch, the epoch and whether the batch was mixed"
    order = 5
    def __init__(self, mixer): self.mixer, self.log = mixer, []
    def before_batch(self):
        if self.training: self.log.append((self.epoch, self.mixer.shift != 0))

def test_off_epoch_in_a_real_fit(make_learner):
    c = CutMix(off_epoch=2); rec = MixedOrNot(c)
    learn = make_learner(cbs=[c, rec])
    learn.fit(3)
    by_epoch = {e: [m for ep, m in rec.log if ep == e] for e in range(3)}
    assert all(by_epoch[0]) and all(by_epoch[1]) and not any(by_epoch[2])

def test_p_schedule_switches_off_for_the_last_quarter(make_learner):
    last_quarter_off = combine_scheds([.75, .25], [SchedNo(1., 1.), SchedNo(0., 0.)])
    c = FMix(p=last_quarter_off); rec = MixedOrNot(c)
    learn = make_learner(cbs=[c, rec])
    learn.fit(2)
    flags = [m for _, m in rec.log]
    n = len(flags)
    assert all(flags[:int(.75 * n) - 1]) and not any(flags[int(.75 * n) + 1:])

def test_one_of_mix_real_fit(make_learner):
    learn = make_learner(cbs=OneOfMix(MixUp(.4), CutMix(1.), FMix(1.)))
    before = learn.validate()[0]
    learn.fit_one_cycle(3, 2e-2)
    assert learn.validate()[0] < .7 * before

# --- export and reuse ---------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def block_dls():
    "Digits through a DataBlock (real Datasets, as `learn.export()` needs), with picklable getters"
    return digits_dls(size=16, bs=64, device='cpu')

@pytest.mark.parametrize('cb', [MixUp(), CutMix(), FMix(), OneOfMix(MixUp(), FMix())], ids=lambda c: type(c).__name__)
def test_export_and_load(block_dls, cb, tmp_path):
    from fastai.learner import Learner, load_learner
    torch.manual_seed(0)
    learn = Learner(block_dls, tiny_cnn(), loss_func=CrossEntropyLossFlat(), cbs=cb, path=tmp_path)
    learn.fit_one_cycle(3, 2e-2)
    learn.export('model.pkl')
    loaded = load_learner(tmp_path/'model.pkl')
    assert type(loaded.loss_func) is CrossEntropyLossFlat                       # the original loss, no wrapper
    assert not any(isinstance(c, MixHandler) for c in loaded.cbs)              # saved as a plain Callback: nothing to mix at inference
    plain = Learner(block_dls, tiny_cnn(), loss_func=CrossEntropyLossFlat(), path=tmp_path)
    plain.model.load_state_dict(loaded.model.state_dict())
    items = block_dls.valid_ds.items[:100]                                      # (image, label) pairs
    dl = block_dls.test_dl(items)
    p1, _ = loaded.get_preds(dl=dl); p2, _ = plain.get_preds(dl=dl)
    torch.testing.assert_close(p1, p2)
    assert p1.argmax(1).eq(torch.tensor([y for _, y in items])).float().mean() > .5

def test_exported_learner_loads_without_fastmix(block_dls, tmp_path):
    "An inference machine needs fastai, not fastmix: load_learner works with fastmix unimportable"
    import subprocess, sys, copy
    from fastai.learner import Learner
    cb = FMix()
    learn = Learner(block_dls, tiny_cnn(), loss_func=CrossEntropyLossFlat(), cbs=cb, path=tmp_path)
    learn.fit(1)
    learn.export('model.pkl')
    assert isinstance(copy.deepcopy(cb), FMix) and isinstance(copy.copy(cb), FMix)      # copies stay mixers
    code = ("import sys; sys.modules['fastmix'] = None\n"                  # `import fastmix` now fails
            "from fastai.learner import load_learner\n"
            "learn = load_learner(sys.argv[1]); print(type(learn.model).__name__, len(learn.cbs))")
    r = subprocess.run([sys.executable, '-c', code, str(tmp_path/'model.pkl')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.startswith('Sequential')

def test_same_callback_reused_across_learners_and_fits(make_learner):
    cb = FMix()
    a, b = make_learner(), make_learner()
    la, lb = a.loss_func, b.loss_func
    a.fit(1, cbs=cb); b.fit(1, cbs=cb); a.fit(1, cbs=cb); b.fit(1, cbs=cb)
    for learn, lf in ((a, la), (b, lb)):
        assert learn.loss_func is lf and torch.isfinite(torch.as_tensor(learn.recorder.losses[-1]))
        assert not any(c is cb for c in learn.cbs)
    c2 = CutMix(); learn = make_learner(cbs=c2)
    learn.fit(1); learn.fit(1)
    assert c2.learn is learn and learn.validate()[0] < 2.
