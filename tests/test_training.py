"Real `Learner.fit` runs on scikit-learn's digits: training, validation untouched, faults, lr_find."
import pytest, torch
from fastai.callback.core import (Callback, CancelBatchException, CancelTrainException, CancelEpochException,
                                  CancelFitException, CancelBackwardException, CancelStepException)
from fastai.callback.schedule import *     # fit_one_cycle, lr_find
from torch import nn
from fastai.losses import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix, MixedLoss, ResizeMix, SaliencyMix, GridMix, SmoothMix
from helpers import tiny_cnn, Raiser

ALL = [MixUp, CutMix, FMix, ResizeMix, SaliencyMix, GridMix, SmoothMix]

@pytest.mark.parametrize('cls', ALL)
def test_fit_reduces_loss(make_learner, cls):
    learn = make_learner(cbs=cls())
    lf = learn.loss_func
    before = learn.validate()[0]
    learn.fit_one_cycle(4, 2e-2)
    losses = torch.stack([torch.as_tensor(l) for l in learn.recorder.losses])   # before validate() resets them
    assert len(losses) == 4 * len(learn.dls.train) and torch.isfinite(losses).all()
    after = learn.validate()[0]
    assert after < .6 * before, (before, after)
    assert learn.loss_func is lf

@pytest.mark.parametrize('cls', ALL)
def test_fit_with_label_smoothing_and_in_fit_cbs(make_learner, cls):
    learn = make_learner(loss_func=LabelSmoothingCrossEntropyFlat())
    lf = learn.loss_func
    learn.fit(1, cbs=cls())                       # the per-fit form: learn.fit_one_cycle(5, cbs=MixUp(.4))
    assert learn.loss_func is lf and not any(isinstance(c, cls) for c in learn.cbs)
    assert torch.isfinite(torch.as_tensor(learn.recorder.losses[-1]))

class Spy(Callback):
    "Records what the model and the loss see, and keeps the DataLoader's batch to check it afterwards"
    order = -5                                     # before the mixing callback (order 0)
    def __init__(self): self.seen = []; self.yielded = []
    def before_batch(self):
        if self.training: self.yielded.append((self.learn.xb, self.learn.xb[0].clone(), self.learn.yb[0].clone()))
    def after_pred(self): self.seen.append((self.training, self.learn.xb[0]))

@pytest.mark.parametrize('cls', ALL)
def test_training_mixed_validation_not(make_learner, cls):
    spy = Spy()
    learn = make_learner(cbs=[cls(), spy])
    learn.fit(1)
    train = [x for t, x in spy.seen if t]; valid = [x for t, x in spy.seen if not t]
    yielded = {id(xb[0]) for xb, _, _ in spy.yielded}
    assert train and all(id(x) not in yielded for x in train)        # the model trained on new, mixed tensors
    for xb, x0, _ in spy.yielded: assert torch.equal(xb[0], x0)       # and the yielded batches are unchanged
    valid_x = torch.cat([x for x, _ in learn.dls.valid])
    assert torch.equal(torch.cat(valid), valid_x)                     # validation saw the data itself

@pytest.mark.parametrize('cls', ALL)
def test_validate_get_preds_unaffected(make_learner, cls):
    with_cb, without = make_learner(cbs=cls()), make_learner()
    without.model.load_state_dict(with_cb.model.state_dict())
    assert with_cb.validate() == without.validate()
    p1, t1 = with_cb.get_preds(); p2, t2 = without.get_preds()
    assert torch.equal(p1, p2) and torch.equal(t1, t2)
    p1, _ = with_cb.get_preds(ds_idx=0, reorder=False); p2, _ = without.get_preds(ds_idx=0, reorder=False)
    assert p1.shape == p2.shape


EVENTS = ['before_batch', 'after_pred', 'after_loss', 'before_backward', 'after_backward', 'after_step']
EXCS = [RuntimeError('boom'), KeyboardInterrupt(), CancelBatchException(), CancelTrainException(),
        CancelEpochException(), CancelFitException(), CancelBackwardException(), CancelStepException()]

@pytest.mark.parametrize('event', EVENTS)
@pytest.mark.parametrize('exc', EXCS, ids=lambda e: type(e).__name__)
def test_faults_leave_learner_usable(make_learner, event, exc):
    spy, cb = Spy(), FMix()
    learn = make_learner(cbs=[cb, spy])
    lf = learn.loss_func
    try: learn.fit(1, cbs=Raiser(event, exc))
    except type(exc): pass                         # cancels outside their own event escape fit, like any error
    if learn.loss_func is not lf:                  # only what fit does not catch, raised after the mixer's after_pred, skips every event
        assert event == 'after_pred' and type(exc) not in (CancelBatchException, CancelTrainException, CancelEpochException, CancelFitException)
        assert isinstance(learn.loss_func, MixedLoss) and learn.loss_func.func is lf   # harmless: see test_loss_contract
    for xb, x0, y0 in spy.yielded: assert torch.equal(xb[0], x0)
    learn.fit(1)                                   # a following fit and validate work
    assert learn.loss_func is lf and len(learn.validate()) == 1

def test_lr_find_and_second_fit(make_learner):
    learn = make_learner(cbs=CutMix())
    lf = learn.loss_func
    learn.lr_find(num_it=20, show_plot=False)
    assert learn.loss_func is lf
    learn.fit(1); learn.fit(1)
    assert learn.loss_func is lf

def test_batch_size_one_last_batch(digits):
    "A training set whose last batch holds one sample, with drop_last off"
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    dls = DataLoaders.from_dsets(digits[0][:65], digits[1][:20], bs=32, device='cpu', drop_last=False)
    for cls in ALL:
        learn = Learner(dls, tiny_cnn(), loss_func=CrossEntropyLossFlat(), cbs=cls())
        learn.fit(1)
        assert torch.isfinite(torch.as_tensor(learn.recorder.losses[-1]))

def test_same_seed_same_training(make_learner):
    runs = []
    for _ in range(2):
        set_seed(7)
        learn = make_learner(cbs=FMix())
        set_seed(7)
        learn.fit(1)
        runs.append(torch.stack([torch.as_tensor(l) for l in learn.recorder.losses]))
    assert torch.equal(*runs)

# --- the callback is the plain per-batch API in a Learner -------------------------------------------

class Replay(Callback):
    "On the first training batch: the random state and batch before mixing (order < 0), or the mixed batch, pred and loss (order > 0)"
    def __init__(self, order): self.order, self.kept = order, None
    def before_batch(self):
        if self.training and self.order < 0 and self.kept is None: self.kept = (torch.get_rng_state(), self.learn.xb, self.learn.yb)
    def after_loss(self):
        if self.training and self.order > 0:
            self.kept = (self.learn.xb, self.learn.pred.detach(), self.learn.loss_grad.detach())
            raise CancelFitException()

@pytest.mark.parametrize('cls', ALL)
def test_callback_and_plain_loop_agree(make_learner, cls):
    "Under one seed, `mixer.mix` + `mixed.loss` give exactly the callback's mixed batch and loss"
    replay_in, replay_out = Replay(-10), Replay(10)         # around the mixing callback (order 0)
    learn = make_learner(cbs=[cls(), replay_in, replay_out])
    learn.fit(1)
    rng, xb, yb = replay_in.kept
    xm_cb, pred, loss_cb = replay_out.kept
    torch.set_rng_state(rng)
    xm, ym, mixed = cls().mix(xb, yb)                      # a fresh mixer: `mix` depends on nothing else
    assert torch.equal(xm[0], xm_cb[0])
    assert torch.equal(mixed.loss(learn.loss_func, pred), loss_cb)

class Penalty(Callback):
    "Adds a weight penalty to `loss_grad` in after_loss, as fastai's RNNRegularizer adds its terms"
    def __init__(self, order): self.order, self.added = order, []
    def after_loss(self):
        if self.training:
            pen = 1e-3 * sum((p ** 2).sum() for p in self.learn.model.parameters())
            self.learn.loss_grad = self.learn.loss_grad + pen
            self.added.append(pen.detach())

class LossSeen(Callback):
    "The final `loss_grad` of each training batch, the mixer's record and pred"
    order = 50
    def __init__(self, mixer): self.mixer, self.seen = mixer, []
    def after_loss(self):
        if self.training: self.seen.append((self.learn.loss_grad.detach(), self.mixer.mixed, self.learn.pred.detach()))

@pytest.mark.parametrize('order', [-5, 5], ids=['penalty-before-mixer', 'penalty-after-mixer'])
@pytest.mark.parametrize('in_fit', [False, True], ids=['Learner-cbs', 'fit-cbs'])
def test_other_callbacks_loss_terms_survive(make_learner, order, in_fit):
    cb, pen = CutMix(), Penalty(order)
    seen = LossSeen(cb)
    learn = make_learner(cbs=[pen, seen] + ([] if in_fit else [cb]))
    learn.fit(1, cbs=[cb] if in_fit else None)
    assert len(seen.seen) == len(learn.dls.train) == len(pen.added)
    for (loss, mixed, pred), p in zip(seen.seen, pen.added):
        assert mixed.reweighs
        torch.testing.assert_close(loss, mixed.loss(learn.loss_func, pred) + p)

def test_two_mixers_refused_with_both_named(make_learner):
    learn = make_learner(cbs=CutMix())
    lf = learn.loss_func
    with pytest.raises(ValueError, match=r"two mixing callbacks, .*CutMix\(.*MixUp\(.*OneOfMix"):
        learn.fit(1, cbs=MixUp())
    assert learn.loss_func is lf and not any(isinstance(c, MixUp) for c in learn.cbs)
    learn.fit(1)                                           # the learner is still usable with its one mixer
    from fastai.callback.mixup import CutMix as FastaiCutMix
    learn = make_learner(cbs=FastaiCutMix())
    with pytest.raises(ValueError, match=r"fastai's own CutMix .*import fastmix after it"): learn.fit(1, cbs=FMix())

@pytest.mark.parametrize('lf', [LabelSmoothingCrossEntropyFlat(), nn.CrossEntropyLoss(label_smoothing=.1)], ids=['fastai', 'torch'])
def test_label_smoothing_twice_refused_before_training(make_learner, lf):
    learn = make_learner(loss_func=lf, cbs=FMix(label_smoothing=.1))
    w0 = [p.detach().clone() for p in learn.model.parameters()]
    with pytest.raises(ValueError, match="FMix: `label_smoothing=0.1` and the loss function .* smooths labels too"): learn.fit(1)
    assert all(torch.equal(a, p) for a, p in zip(w0, learn.model.parameters()))      # refused before any step

@pytest.mark.parametrize('cls', ALL)
def test_fit_on_fastais_typed_batches(cls):
    "Batches of fastai's TensorImage and TensorCategory (what fastai's own data blocks and fastmix.data give): each method trains, and its loss is a plain number"
    from fastmix.data import digits_arrays, tensor_dls
    from fastmix.comparison import make_learner as command_learner
    from fastai.torch_core import TensorImage, TensorCategory
    tr, va, vocab = digits_arrays(16, limit=192)
    dls = tensor_dls(tr, va, vocab, bs=64, device='cpu')
    xb, yb = dls.one_batch()
    assert isinstance(xb, TensorImage) and isinstance(yb, TensorCategory)
    learn = command_learner(dls, cbs=cls(1.))
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    assert len(learn.recorder.losses) == len(dls.train) and all(torch.isfinite(torch.as_tensor(l)) for l in learn.recorder.losses)
