"Training for real: choosing among methods, `p`, schedules and `off_epoch`, export and reuse."
import pytest, torch
from torch import nn
from fastai.callback.core import Callback
from fastai.callback.schedule import SchedLin, SchedNo, combine_scheds
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix
from conftest import attach

def images(bs=8, c=3, spatial=(12, 10), dtype=torch.float32): return torch.randn(bs, c, *spatial).to(dtype)

def is_box(m):
    "Is the zero set of each 2-D binary mask (n, H, W) a product of intervals?"
    z = m == 0
    return (z == (z.any(2)[:, :, None] & z.any(1)[:, None, :])).flatten(1).all(1)

# --- choosing among methods ---------------------------------------------------------------------------

def test_one_of_mix_per_sample_each_row_its_own_method():
    set_seed(0)
    c = OneOfMix(MixUp(.4), CutMix(1.), FMix(1.), probs=[1, 1, 2])
    x = images(3000, 1, (16, 16))
    learn = attach(c, (x,), (torch.arange(3000),)); c.before_batch()
    m = c.mask.float()
    torch.testing.assert_close(learn.xb[0], m * x + (1 - m) * x[c.perm])          # one mixed batch
    torch.testing.assert_close(c.lam, m.expand_as(x).flatten(1).mean(1))            # λ exact on every row
    share = torch.bincount(c.choice, minlength=3).float() / 3000
    torch.testing.assert_close(share, torch.tensor([.25, .25, .5]), atol=.03, rtol=0)
    mixup, cutmix, fmix = (m[c.choice == k, 0] for k in range(3))
    assert (mixup == mixup[:, :1, :1]).all() and (mixup[:, 0, 0] >= .5).all()      # constant masks, MixUp's max_lam
    assert set(cutmix.unique().tolist()) <= {0., 1.} and is_box(cutmix).all()      # boxes
    assert set(fmix.unique().tolist()) <= {0., 1.} and not is_box(fmix).all()      # blobs

def test_one_of_mix_per_batch():
    set_seed(1)
    c = OneOfMix(MixUp(), CutMix(), mode='batch')
    seen = set()
    for _ in range(20):
        learn = attach(c, (images(8),), (torch.arange(8),)); c.before_batch()
        assert c.choice.shape == (1,) and (c.lam == c.lam[0]).all() and c.mask.shape[0] == 1
        seen.add(int(c.choice))
    assert seen == {0, 1}

def test_one_of_mix_label_maps_weighed_pixel_by_pixel():
    "With MixUp among the methods a label map cannot be cut; weighing each pixel by its mask is the same loss"
    set_seed(2)
    x, y = images(6, 2, (8, 8)), torch.randint(0, 3, (6, 8, 8))
    learn = attach(c := OneOfMix(MixUp(), CutMix()), (x,), (y,), CrossEntropyLossFlat(axis=1)); c.before_batch()
    assert not c.cuts and c.kinds == ['dense'] and learn.yb[0] is y
    learn.pred = pred = torch.randn(6, 3, 8, 8); c.after_loss()
    m = c.mask.float()[:, 0]
    ce = nn.CrossEntropyLoss(reduction='none')
    torch.testing.assert_close(learn.loss_grad, (m * ce(pred, y) + (1 - m) * ce(pred, y[c.perm])).mean())

def test_one_of_mix_arguments():
    for bad in [(), (1,), (MixUp, 'x'), (OneOfMix(MixUp()),)]:
        with pytest.raises(TypeError, match="OneOfMix: give one or more mixing callbacks"): OneOfMix(*bad)
    for probs in ([1], [1, -1], [0, 0], 'ab'):
        with pytest.raises((ValueError, TypeError), match="OneOfMix: `probs`"): OneOfMix(MixUp(), CutMix(), probs=probs)
    with pytest.raises(ValueError, match=r"OneOfMix: MixUp\(.*p=0.5.*\) has batch-wide arguments"): OneOfMix(MixUp(p=.5), CutMix())
    assert [type(m) for m in OneOfMix(MixUp, FMix).mixers] == [MixUp, FMix]       # classes, as fastai's cbs= takes them
    assert repr(OneOfMix(MixUp(), FMix(), probs=[3, 1])).startswith("OneOfMix(MixUp(alpha=0.4")

def test_one_of_mix_reproducible():
    runs = []
    for _ in range(2):
        set_seed(3)
        learn = attach(c := OneOfMix(MixUp(), CutMix(), FMix()), (images(12),), (torch.arange(12),)); c.before_batch()
        runs.append((c.choice, c.lam, c.mask, c.shift, learn.xb[0]))
    for a, b in zip(*runs): assert torch.equal(torch.as_tensor(a), torch.as_tensor(b))

@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_one_of_mix_half_precision(dtype):
    learn = attach(c := OneOfMix(MixUp(), CutMix(), FMix()), (images(9, dtype=dtype),), (torch.arange(9),)); c.before_batch()
    assert learn.xb[0].dtype == dtype and c.mask.dtype == dtype and c.lam.dtype == torch.float32

# --- p -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('cls', [MixUp, CutMix, FMix])
def test_p_zero_leaves_the_batch(cls):
    x, y = images(), torch.arange(8)
    learn = attach(c := cls(p=0.), (x,), (y,), CrossEntropyLossFlat()); c.before_batch()
    assert learn.xb[0] is x and learn.yb[0] is y and (c.lam == 1).all() and c.shift == 0
    learn.loss_grad = sentinel = torch.tensor(1.); learn.pred = torch.randn(8, 8); c.after_loss()
    assert learn.loss_grad is sentinel

def test_p_per_sample():
    set_seed(4)
    x = images(2000, 1, (6, 6))
    learn = attach(c := CutMix(p=.3), (x,), (torch.arange(2000),)); c.before_batch()
    stay = c.lam == 1
    assert abs(stay.float().mean() - .7) < .04
    torch.testing.assert_close(learn.xb[0][stay], x[stay])                          # unmixed rows are themselves
    m = c.mask.float(); torch.testing.assert_close(learn.xb[0], m * x + (1 - m) * x[c.perm])

def test_p_per_batch():
    set_seed(5)
    mixed = 0
    for _ in range(200):
        x = images(4)
        learn = attach(c := FMix(p=.25, mode='batch'), (x,), (torch.arange(4),)); c.before_batch()
        mixed += learn.xb[0] is not x
    assert 30 <= mixed <= 70

def test_p_and_alpha_schedules_follow_training():
    x = images(64)
    c = MixUp(alpha=SchedLin(2., 1e-3), max_lam=False, p=SchedLin(1., 0.))
    learn = attach(c, (x,), (torch.arange(64),))
    learn.pct_train = 0.; c.before_batch(); assert (c.lam < 1).all() and c.lam.std() < .3     # Beta(2, 2): near .5
    learn.pct_train, learn.xb = 1., (x,); c.before_batch(); assert learn.xb[0] is x          # p = 0 at the end
    learn.pct_train, learn.xb = .9999, (x,)
    c.p = 1.; c.before_batch(); assert ((c.lam < .02) | (c.lam > .98)).float().mean() > .9  # alpha near 0: λ near 0 or 1

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

def _x(i): return DIGITS[0][i]
def _y(i): return int(DIGITS[1][i])
DIGITS = None

@pytest.fixture(scope='module')
def block_dls():
    "Digits through a DataBlock (real Datasets, as `learn.export()` needs), with picklable getters"
    global DIGITS
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from fastai.data.block import DataBlock, TransformBlock, CategoryBlock
    from fastai.data.transforms import IndexSplitter
    d = load_digits()
    DIGITS = (F.interpolate(torch.tensor(d.images[:, None] / 16, dtype=torch.float32), size=16, mode='bilinear'), d.target)
    db = DataBlock(blocks=(TransformBlock(), CategoryBlock()), get_x=_x, get_y=_y, splitter=IndexSplitter(range(1400, 1797)))
    return db.dataloaders(list(range(1797)), bs=64, device='cpu', num_workers=0)

@pytest.mark.parametrize('cb', [MixUp(), CutMix(), FMix(), OneOfMix(MixUp(), FMix())], ids=lambda c: type(c).__name__)
def test_export_and_load(block_dls, cb, tmp_path):
    from fastai.learner import Learner, load_learner
    from conftest import small_cnn
    torch.manual_seed(0)
    learn = Learner(block_dls, small_cnn(), loss_func=CrossEntropyLossFlat(), cbs=cb, path=tmp_path)
    learn.fit_one_cycle(3, 2e-2)
    learn.export('model.pkl')
    loaded = load_learner(tmp_path/'model.pkl')
    assert type(loaded.loss_func) is CrossEntropyLossFlat                       # the original loss, no wrapper
    kept = [c for c in loaded.cbs if isinstance(c, type(cb))]
    assert len(kept) == 1 and not hasattr(kept[0], 'mask') and not hasattr(kept[0], 'lam')   # no batch saved
    plain = Learner(block_dls, small_cnn(), loss_func=CrossEntropyLossFlat(), path=tmp_path)
    plain.model.load_state_dict(loaded.model.state_dict())
    dl = block_dls.test_dl(list(range(1400, 1500)))
    p1, _ = loaded.get_preds(dl=dl); p2, _ = plain.get_preds(dl=dl)
    torch.testing.assert_close(p1, p2)
    assert p1.argmax(1).eq(torch.tensor(DIGITS[1][1400:1500])).float().mean() > .5

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
