"ManifoldMix on real learners (text with AWD_LSTM, tabular, vision): they learn; on a batch, the mixed place's output is the per-sample mix and the loss the λ-weighted one; hooks never outlive a forward pass."
import numpy as np, pandas as pd, pytest, torch
import torch.nn.functional as F
from fastai.callback.core import (Callback, CancelBatchException, CancelTrainException, CancelEpochException,
                                  CancelFitException, CancelBackwardException, CancelStepException)
from fastai.learner import Learner, load_learner
from fastai.callback.schedule import *     # fit_one_cycle
from fastai.torch_core import set_seed
from fastmix.manifold import ManifoldMix, mixing_at, default_sites
from fastmix.methods import FMix, CutMix, MixUp
from helpers import Raiser

def text_dls(n=320, bs=32, seq_len=8):
    "Short made-up reviews: a positive or negative word or two among neutral ones; bptt 8 so a batch is fed in chunks"
    from fastai.text.all import TextDataLoaders, BaseTokenizer
    rng = np.random.default_rng(0)
    pos, neg = ['good', 'great', 'fine', 'nice'], ['bad', 'awful', 'poor', 'sad']
    neu = ['the', 'a', 'movie', 'was', 'it', 'and', 'plot', 'actor', 'film', 'very']
    rows = []
    for i in range(n):
        w = list(rng.choice(neu, rng.integers(4, 30)))
        for _ in range(rng.integers(1, 3)): w.insert(rng.integers(0, len(w) + 1), rng.choice(pos if i % 2 else neg))
        rows.append((' '.join(w), 'pos' if i % 2 else 'neg'))
    df = pd.DataFrame(rows, columns=['text', 'label'])
    return TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_pct=.2, seed=0, bs=bs,
                                   tok_tfm=BaseTokenizer(), seq_len=seq_len, num_workers=0)

def text_learner(cbs=None, drop=True, **kw):
    from fastai.text.all import text_classifier_learner, AWD_LSTM, awd_lstm_clas_config
    cfg = dict(awd_lstm_clas_config, emb_sz=32, n_hid=64, n_layers=1)
    if not drop: cfg.update(output_p=0., hidden_p=0., input_p=0., embed_p=0., weight_p=0.)
    set_seed(0)
    return text_classifier_learner(text_dls(), AWD_LSTM, pretrained=False, config=cfg, cbs=cbs, drop_mult=1. if drop else 0., **kw)

def tabular_learner_(cbs=None):
    from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, Normalize
    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame(dict(a=rng.choice(['x', 'y', 'z'], n), b=rng.choice(['u', 'v'], n), c1=rng.normal(size=n), c2=rng.normal(size=n)))
    df['t'] = np.where((df.a == 'x') ^ (df.c1 + .5 * df.c2 > 0), 'yes', 'no')
    dls = TabularDataLoaders.from_df(df, cat_names=['a', 'b'], cont_names=['c1', 'c2'], y_names='t', procs=[Categorify, Normalize],
                                     valid_idx=list(range(500, 600)), bs=64, num_workers=0)
    set_seed(0)
    return tabular_learner(dls, layers=[32, 16], cbs=cbs)

def vision_learner_(cbs=None, limit=512):
    from fastai.vision.learner import vision_learner
    from torchvision.models import resnet18
    from fastmix.data import digits_arrays
    from fastmix.data import tensor_dls
    train, valid, vocab = digits_arrays(32, limit=limit)
    set_seed(0)
    return vision_learner(tensor_dls(train, valid, vocab, bs=64, device='cpu', seed=0), resnet18, pretrained=False, n_in=1, cbs=cbs)

LEARNERS = {'text': text_learner, 'tabular': tabular_learner_, 'vision': vision_learner_}

def no_hooks(model):
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())

@pytest.mark.parametrize('kind,alpha,epochs,lr', [('text', 2., 10, 3e-2), ('tabular', .4, 6, 1e-2), ('vision', 2., 5, 1e-2)])
def test_fit_learns(kind, alpha, epochs, lr):
    learn = LEARNERS[kind](cbs=ManifoldMix(alpha), **({'limit': None} if kind == 'vision' else {}))
    before = learn.validate()[0]
    learn.fit_one_cycle(epochs, lr)
    after = learn.validate()[0]
    assert after < .75 * before, (before, after)
    assert no_hooks(learn.model)
    defaults = {'text': ['the embeddings'], 'tabular': ['the input of the first linear layer'],
                'vision': ['the input', '`0.4`', '`0.5`']}[kind]                  # the stated defaults
    assert [name for _, _, name in learn.manifold_mix.sites] == defaults

class Spy(Callback):
    "On the first training batch, hooks every place ManifoldMix may mix: before its own hook (order 80: sees the clean values) or after it (1001: the mixed ones)"
    def __init__(self, order): self.order, self.seen, self.hs, self.done = order, {}, [], False
    def before_batch(self):
        if self.done or not self.training: return
        self.done = True
        for module, at, name in self.learn.manifold_mix.sites:
            rec = lambda v, a=None, name=name: self.seen.setdefault(name, []).append((a, v.detach().clone()))
            self.hs.append(module.register_forward_hook(lambda m, a, o, rec=rec: rec(o, a[0])) if at == 'output' else
                           module.register_forward_pre_hook(lambda m, a, rec=rec: rec(a[0])))
    def after_pred(self):
        for h in self.hs: h.remove()
        self.hs = []
    def after_loss(self):
        if self.order > 1000 and not self.__dict__.get('got'):       # (a callback's own attributes: others come from the learner)
            self.got = dict(loss=self.learn.loss_grad.detach(), pred=self.learn.pred.detach(), y=self.learn.yb[0], mixed=self.learn.manifold_mix.mixed)

class _OneBatch(Callback):
    order = 1002
    def after_loss(self):
        if self.training: raise CancelFitException

@pytest.mark.parametrize('kind', ['text', 'tabular', 'vision-input', 'vision-stage'])
def test_one_batch_mix_and_loss(kind):
    "The place's output is each sample's mix with its partner's (the unmixed values of the same batch), and the loss is the λ-weighted one"
    learn = LEARNERS[kind.split('-')[0]](**({'alpha': 0., 'beta': 0.} if kind == 'text' else {}))   # text: no activation regularisation in the loss
    modules = {'vision-input': ['input'], 'vision-stage': [learn.model[0][5]] if kind == 'vision-stage' else None}.get(kind)
    before, after = Spy(80), Spy(1001)
    learn.add_cbs([ManifoldMix(1., modules=modules), before, after])
    learn.fit(1, 1e-3, cbs=_OneBatch())
    cb, got = learn.manifold_mix, after.got
    m = got['mixed']
    lam, perm = m.lam, m.perm
    (ids, clean), (_, out) = before.seen[cb.site][0], after.seen[cb.site][0]
    if kind == 'text':                                 # embeddings of token ids (the first chunk): padding kept
        emb = default_sites(learn.model)[0][0].emb
        b, pad = len(clean), emb.padding_idx
        full = emb.weight[pad].detach().expand(len(lam), *clean.shape[1:]).clone(); full[:b] = clean
        want = torch.where((ids == pad)[..., None], clean, torch.lerp(full[perm[:b]], clean, lam[:b, None, None]))
        assert (ids == pad).any() and cb.site == 'the embeddings'
    else: want = torch.lerp(clean[perm], clean, lam.view(-1, *[1] * (clean.ndim - 1)))
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    assert m.shift != 0 and not torch.equal(out, clean)
    per = lambda t: F.cross_entropy(got['pred'].float(), t.flatten().long(), reduction='none')   # tabular targets: (B, 1) int8
    torch.testing.assert_close(got['loss'], (lam * per(got['y']) + (1 - lam) * per(got['y'][perm])).mean(), rtol=1e-5, atol=1e-6)
    assert no_hooks(learn.model)

def test_feature_map_masks_at_the_maps_size():
    "mask=FMix/CutMix: the mask is drawn at the feature map's size and λ is its mean"
    learn = vision_learner_()
    learn.add_cb(ManifoldMix(mask=FMix(1.), modules=[learn.model[0][5]]))
    learn.fit(1, 1e-3, cbs=_OneBatch())
    m = learn.manifold_mix.mixed
    assert m.mask.shape == (64, 1, 4, 4)                   # layer2 of a ResNet at 32x32: 4x4
    torch.testing.assert_close(m.lam, m.mask.flatten(1).mean(1))


class ForwardRaiser(torch.nn.Module):
    "Wraps a module; raises inside the model's forward pass once it is armed"
    def __init__(self, m): super().__init__(); self.m, self.armed = m, False
    def forward(self, x):
        if self.armed: self.armed = False; raise RuntimeError('inside forward')
        return self.m(x)

EVENTS = ['before_batch', 'after_pred', 'after_loss', 'before_backward', 'after_step']
EXCS = [RuntimeError('boom'), KeyboardInterrupt(), CancelBatchException(), CancelTrainException(), CancelFitException()]

@pytest.mark.parametrize('event', EVENTS)
@pytest.mark.parametrize('exc', EXCS, ids=lambda e: type(e).__name__)
def test_faults_leave_no_hook(event, exc):
    learn = tabular_learner_(cbs=ManifoldMix(.4))
    try: learn.fit(1, cbs=Raiser(event, exc, order=1001))   # after ManifoldMix has hooked its place, but for before_batch
    except type(exc): pass
    beyond_reach = event == 'before_batch' and not type(exc).__name__.startswith('Cancel')   # see the notebook
    assert no_hooks(learn.model) or beyond_reach
    plain = tabular_learner_(); plain.model.load_state_dict(learn.model.state_dict())
    assert learn.validate() == plain.validate() and no_hooks(learn.model)
    learn.fit(1); assert no_hooks(learn.model) and len(learn.validate()) == 1

def test_exception_inside_the_forward_pass_leaves_no_hook():
    learn = vision_learner_()
    body = learn.model[0]
    body[6] = ForwardRaiser(body[6])                          # after the stages ManifoldMix hooks
    learn.add_cb(ManifoldMix(modules=[body[4], body[5]]))
    body[6].armed = True
    with pytest.raises(RuntimeError, match='inside forward'): learn.fit(1)
    assert no_hooks(learn.model)

def test_validation_get_preds_export_never_see_a_hook(tmp_path):
    learn, plain = tabular_learner_(cbs=ManifoldMix(.4)), tabular_learner_()
    learn.fit(1, 1e-2)
    plain.model.load_state_dict(learn.model.state_dict())
    assert learn.validate() == plain.validate()
    assert torch.equal(learn.get_preds()[0], plain.get_preds()[0])
    learn.export(tmp_path/'m.pkl')
    loaded = load_learner(tmp_path/'m.pkl')
    assert no_hooks(loaded.model) and not any(type(c).__name__ == 'ManifoldMix' for c in loaded.cbs)
    dl = learn.dls.valid
    assert torch.equal(loaded.get_preds(dl=dl)[0], plain.get_preds(dl=dl)[0])

def test_bad_arguments_named_at_construction():
    with pytest.raises(TypeError, match='ManifoldMix: `mask` must be a MixUp, CutMix or FMix'): ManifoldMix(mask='fmix')
    with pytest.raises(TypeError, match='ManifoldMix: `modules` must hold modules'): ManifoldMix(modules=['input', 3])
    with pytest.raises(ValueError, match='ManifoldMix: `alpha`'): ManifoldMix(-1.)
    with pytest.raises(ValueError, match="ManifoldMix: `mode` must be 'elem' or 'batch'"): ManifoldMix(mode='sample')
    learn = text_learner(cbs=ManifoldMix(mask=CutMix()))
    with pytest.raises(ValueError, match='masks need feature maps'): learn.fit(1)
    assert no_hooks(learn.model)
    from torch import nn
    with pytest.raises(ValueError, match='pass `modules`'): Learner(tabular_learner_().dls, nn.Sequential(nn.Linear(2, 2)), cbs=ManifoldMix()).fit(1)

def test_one_mixer_per_learner_and_not_inside_oneofmix():
    from fastmix.callbacks import MixUp as MixUpCB
    from fastmix.mixing import OneOfMix
    learn = tabular_learner_(cbs=[ManifoldMix(.4), MixUpCB(.4)])
    with pytest.raises(ValueError, match='the learner has two mixing callbacks.*ManifoldMix'): learn.fit(1)
    assert no_hooks(learn.model)
    with pytest.raises(TypeError, match="OneOfMix: give one or more mixing methods \(MixUp, CutMix, FMix, GridMix"): OneOfMix(ManifoldMix(.4), MixUp(.4))
