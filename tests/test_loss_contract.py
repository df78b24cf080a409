"""The loss a mixing callback trains on, through fastai's own loop: after every `after_loss`, `loss_grad` is exactly
the record's loss (`mixed.loss(loss_func, pred)`) as the other callbacks transform it, for class, float, regression
and label-map targets, input and feature mixing, with GradientAccumulation and a loss-scaling callback on either side
of the mixer. And a callback pickles as itself."""
import copy, pickle, pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.callback.core import Callback, CancelBatchException
from fastai.callback.training import GradientAccumulation
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat, BCEWithLogitsLossFlat, MSELossFlat
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix, MixedLoss
from fastmix.manifold import ManifoldMix
from fastmix.demo import small_cnn, digits_dls
from helpers import digits16, Raiser

BS, N_ACC, A = 16, 64, .3

def target(kind, x, y):
    "The target of digit image `x` (1, 16, 16) of class `y` for a task of `kind`"
    if kind == 'class': return y
    if kind == 'float': return F.one_hot(y, 10).float()           # one-hot / multi-label, for BCE
    if kind == 'regression': return y.float()[None] / 9            # (1,)
    return (x[0] > .3).long()                                      # 'dense': a label map (16, 16)

def dls_of(kind, n=128):
    tr, va = digits16()
    conv = lambda items: [(x, target(kind, x, y)) for x, y in items]
    return DataLoaders.from_dsets(conv(tr[:n]), conv(va[:32]), bs=BS, device='cpu')

def fcn(): return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1))

TASKS = {   # kind -> (model, loss function)
    'class': (lambda: small_cnn(1, 10), CrossEntropyLossFlat),
    'float': (lambda: small_cnn(1, 10), BCEWithLogitsLossFlat),
    'regression': (lambda: small_cnn(1, 1), MSELossFlat),
    'dense': (fcn, lambda: CrossEntropyLossFlat(axis=1)),
}
MIXERS = {
    'MixUp': lambda kind: MixUp(1.),
    'CutMix': lambda kind: CutMix(1.),
    'FMix-soft': lambda kind: FMix(1., max_soft=.2),
    'ManifoldMix': lambda kind: ManifoldMix(mask=CutMix(1.), modules=['0']) if kind == 'dense' else ManifoldMix(modules=['1']),
}

def aux(pred): return pred.float().pow(2).mean()

class Distill(Callback):
    "Blends the loss with a term of its own, as users write a distillation callback: (1-a)·loss_grad + a·aux(pred)"
    def __init__(self, order): self.order = order
    def after_loss(self):
        if self.training: self.learn.loss_grad = (1 - A) * self.learn.loss_grad + A * aux(self.learn.pred)

class Seen(Callback):
    "Each training batch's final `loss_grad` (before_backward: after every after_loss), the mixer's record and pred"
    def __init__(self, mixer): self.mixer, self.seen = mixer, []
    def before_backward(self):
        self.seen.append((self.learn.loss_grad.detach().clone(), self.mixer.mixed, self.learn.pred.detach()))

EXTRAS = {   # name -> [(what, order)]: GradientAccumulation's order is 6, the input mixers' 0, ManifoldMix's 1000
    'alone': [], 'accumulate': [('acc', 6)], 'distill-first': [('distill', -5)], 'distill-last': [('distill', 2000)],
    'accumulate+distill-first': [('acc', 6), ('distill', -5)],
}

def intended(mixed, pred, lf, extras):
    "The loss the learner should train on: the record's, then each other callback's change in their order"
    loss = mixed.loss(lf, pred)
    for what, _ in sorted(extras, key=lambda e: e[1]):
        loss = loss / (N_ACC / BS) if what == 'acc' else (1 - A) * loss + A * aux(pred)
    return loss

@pytest.mark.parametrize('extra', list(EXTRAS))
@pytest.mark.parametrize('kind', list(TASKS))
@pytest.mark.parametrize('mixer', list(MIXERS))
def test_loss_grad_is_the_records_loss(mixer, kind, extra):
    torch.manual_seed(0)
    model, make_lf = TASKS[kind]
    cb, lf = MIXERS[mixer](kind), make_lf()
    seen = Seen(cb)
    others = [GradientAccumulation(N_ACC) if what == 'acc' else Distill(order) for what, order in EXTRAS[extra]]
    learn = Learner(dls_of(kind), model(), lf, cbs=[cb, seen, *others])
    learn.fit(1)
    assert learn.loss_func is lf and len(seen.seen) == len(learn.dls.train) == 8
    assert any(m.shift != 0 for _, m, _ in seen.seen)                          # it did mix
    for loss, m, pred in seen.seen:
        assert torch.equal(loss, intended(m, pred, lf, EXTRAS[extra])), (mixer, kind, extra, m)

def test_manifold_trains_on_the_mixed_targets():
    "ManifoldMix with one-hot targets: the loss fastai computes is BCE against the mixed targets, not the batch's own"
    cb, lf = ManifoldMix(modules=['1']), BCEWithLogitsLossFlat()
    class Targets(Callback):
        order, seen = 2000, []
        def after_loss(self):
            if self.training: self.seen.append((self.learn.yb[0], cb.mixed.yb[0], self.learn.loss_grad.detach(),
                                                lf(self.learn.pred, *self.learn.yb).detach()))
    t = Targets()
    Learner(dls_of('float'), small_cnn(1, 10), lf, cbs=[cb, t]).fit(1)
    for y, ym, loss, plain in t.seen:
        assert y is ym and ((y > 0) & (y < 1)).any()                          # learn.yb holds the blended one-hot rows
        assert torch.equal(loss, plain)

# --- the loss wrapper is harmless where an error leaves it ------------------------------------------------------

def test_loss_wrapper_left_by_an_error_is_harmless():
    "An error (not a cancellation) in a later callback's after_pred skips every event: the wrapper stays, harmlessly"
    learn = Learner(dls_of('class'), small_cnn(1, 10), CrossEntropyLossFlat(), cbs=CutMix())
    lf = learn.loss_func
    with pytest.raises(RuntimeError, match='boom'): learn.fit(1, cbs=Raiser('after_pred', RuntimeError('boom')))
    left = learn.loss_func
    assert isinstance(left, MixedLoss) and left.func is lf
    x, y = learn.dls.valid.one_batch()
    pred = learn.model(x)
    assert torch.equal(left(pred, y), lf(pred, y))                            # any other targets: the loss itself
    assert left.reduction == 'mean' and left.axis == lf.axis
    left.reduction = 'sum'; assert lf.reduction == 'sum'; left.reduction = 'mean'   # attributes are the loss's
    back = pickle.loads(pickle.dumps(left))                                   # pickles (and exports) as the loss
    assert type(back) is type(lf) and back.reduction == 'mean' and 'fastmix' not in pickle.dumps(left).decode('latin1')
    assert learn.validate()[0] == Learner(learn.dls, learn.model, lf).validate()[0]
    learn.fit(1)                                                              # the next fit takes it out
    assert learn.loss_func is lf

def test_loss_func_is_the_users_outside_the_loss_call():
    "Other callbacks see the user's loss function in every event but the one loss call of each training batch"
    cb = MixUp()
    class Where(Callback):
        order, seen = 5, []
        def __call__(self, event_name):
            if self.learn is not None and event_name != 'after_pred': self.seen.append((event_name, self.learn.loss_func))
            return super().__call__(event_name)
    w = Where()
    learn = Learner(dls_of('class'), small_cnn(1, 10), CrossEntropyLossFlat(), cbs=[cb, w])
    lf = learn.loss_func
    learn.fit(1)
    assert {e for e, _ in w.seen} >= {'before_batch', 'after_loss', 'before_backward', 'after_batch', 'after_fit'}
    assert all(f is lf for _, f in w.seen)

def test_cancelled_batch_after_pred_releases_the_wrapper():
    learn = Learner(dls_of('class'), small_cnn(1, 10), CrossEntropyLossFlat(), cbs=FMix())
    lf = learn.loss_func
    learn.fit(1, cbs=Raiser('after_pred', CancelBatchException()))
    assert learn.loss_func is lf

# --- pickling ---------------------------------------------------------------------------------------------------

CALLBACKS = {'MixUp': lambda: MixUp(.4), 'CutMix': lambda: CutMix(1., p=.5), 'FMix': lambda: FMix(1., max_soft=.1),
             'OneOfMix': lambda: OneOfMix(MixUp(), CutMix(), probs=[1, 2]), 'ManifoldMix': lambda: ManifoldMix(modules=['1'])}

@pytest.mark.parametrize('name', list(CALLBACKS))
def test_a_pickled_callback_is_the_same_callback(name):
    import cloudpickle
    cb = CALLBACKS[name]()
    for back in (pickle.loads(pickle.dumps(cb)), cloudpickle.loads(cloudpickle.dumps(cb)), copy.deepcopy(cb), copy.copy(cb)):
        assert type(back) is type(cb) and repr(back) == repr(cb)
    back = pickle.loads(pickle.dumps(cb))
    seen = Seen(back)
    Learner(dls_of('class'), small_cnn(1, 10), CrossEntropyLossFlat(), cbs=[back, seen]).fit(1)
    assert all(m is not None for _, m, _ in seen.seen) and any((m.lam < 1).any() for _, m, _ in seen.seen)

@pytest.mark.parametrize('name', ['CutMix', 'ManifoldMix'])
def test_a_saved_learner_keeps_its_mixer(name, tmp_path):
    "torch.save(learn) after training, then torch.load: the learner still mixes; learn.export() saves a plain Callback"
    cb = CALLBACKS[name]()
    learn = Learner(digits_dls(16, bs=BS, limit=128), small_cnn(1, 10), CrossEntropyLossFlat(), cbs=cb, path=tmp_path)
    learn.fit(1)
    torch.save(learn, tmp_path/'learn.pth')
    back = torch.load(tmp_path/'learn.pth', weights_only=False)
    mixers = [c for c in back.cbs if type(c) is type(cb)]
    assert len(mixers) == 1 and repr(mixers[0]) == repr(cb) and mixers[0].learn is back
    seen = Seen(mixers[0])
    back.fit(1, cbs=seen)
    assert any((m.lam < 1).any() for _, m, _ in seen.seen)
    learn.export('export.pkl')
    from fastai.learner import load_learner
    exported = load_learner(tmp_path/'export.pkl')
    assert not any(type(c) is type(cb) for c in exported.cbs)

@pytest.mark.parametrize('mixer', ['CutMix', 'ManifoldMix'])
def test_loss_grad_under_bf16_mixed_precision(mixer):
    "fastai's MixedPrecision (bf16 autocast, on the CPU here): the loss is still exactly the record's, accumulated"
    import fastai.callback.fp16                                    # Learner.to_bf16
    torch.manual_seed(0)
    cb, lf = MIXERS[mixer]('class'), CrossEntropyLossFlat()
    seen = Seen(cb)
    learn = Learner(dls_of('class'), small_cnn(1, 10), lf, cbs=[cb, seen, GradientAccumulation(N_ACC)]).to_bf16()
    learn.fit(1)
    assert learn.loss_func is lf and len(seen.seen) == 8
    for loss, m, pred in seen.seen: assert torch.equal(loss, intended(m, pred, lf, EXTRAS['accumulate']))
