"""What the mixer did, per epoch (the third week's item 8): `cb.stats`, the `mix_metrics` columns of fastai's table and
`learn.recorder.values` agree with the records of every training batch, for a mixer with `p` < 1, `off_epoch`,
OneOfMix's methods and ManifoldMix; the `fastmix` command keeps them per run."""
import math, pytest, torch
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastmix.callbacks import CutMix, MixUp, SmoothMix, OneOfMix, mix_metrics
from fastmix.manifold import ManifoldMix
from fastmix.demo import small_cnn
from test_loss_contract import dls_of, Seen

MIXERS = {
    'CutMix p=.5': lambda: CutMix(1., p=.5),
    'MixUp off_epoch=1': lambda: MixUp(1., off_epoch=1),
    'OneOfMix': lambda: OneOfMix(CutMix(1.), MixUp(.4), SmoothMix(1.), probs=[2, 1, 1], p=.7),
    'OneOfMix batch': lambda: OneOfMix(CutMix(1.), CutMix(.2), mode='batch'),
    'ManifoldMix': lambda: ManifoldMix(1., modules=['1']),
}

def by_epoch(seen, n_batches):
    "Each epoch's records"
    ms = [m for _, m, _ in seen.seen]
    return [ms[i:i + n_batches] for i in range(0, len(ms), n_batches)]

@pytest.mark.parametrize('name', list(MIXERS))
def test_recorded_figures_are_the_records(name):
    torch.manual_seed(0)
    cb = MIXERS[name]()
    seen = Seen(cb)
    learn = Learner(dls_of('class', 64), small_cnn(1, 10), CrossEntropyLossFlat(), metrics=[accuracy, *mix_metrics(cb)], cbs=[cb, seen])
    learn.fit(2)
    nb = len(learn.dls.train)
    assert len(cb.stats) == 2 and [s['epoch'] for s in cb.stats] == [0, 1]
    names = learn.recorder.metric_names[4:-1]                     # after epoch, train_loss, valid_loss, accuracy
    for st, recs, row in zip(cb.stats, by_epoch(seen, nb), learn.recorder.values):
        lam = torch.cat([m.lam for m in recs]); mixed = torch.cat([(m.lam < 1) & (m.shift != 0) for m in recs])
        want = dict(mix_lam=float(lam[mixed].mean()) if mixed.any() else math.nan, mixed=float(mixed.float().mean()))
        if isinstance(cb, OneOfMix):
            for k, n in enumerate(cb.method_names):
                want[f'share_{n}'] = sum(float((m.choice == k).float().mean()) for m in recs) / nb   # every batch is full here
        assert set(st) == {'epoch', *want}
        for k, v in want.items():
            assert (math.isnan(v) and math.isnan(st[k])) or abs(st[k] - v) < 1e-6, (name, k, st[k], v)
        assert names == list(want) and all(abs(a - st[k]) < 1e-6 or (math.isnan(a) and math.isnan(st[k])) for a, k in zip(row[3:], names))
    if name == 'MixUp off_epoch=1': assert cb.stats[1]['mixed'] == 0 and math.isnan(cb.stats[1]['mix_lam'])
    if name == 'CutMix p=.5': assert .25 < cb.stats[0]['mixed'] < .75
    if name == 'OneOfMix batch': assert all(st['share_CutMix'] + st['share_CutMix2'] == 1 for st in cb.stats)
    assert learn.metrics[-1].value is not None

def test_stats_are_per_fit_and_need_no_metrics():
    "Without mix_metrics the figures are still kept on the callback; a second fit starts a new list"
    cb = CutMix(1.)
    learn = Learner(dls_of('class', 32), small_cnn(1, 10), CrossEntropyLossFlat(), cbs=cb)
    learn.fit(2); assert len(cb.stats) == 2 and learn.recorder.metric_names[-2] == 'valid_loss'
    learn.fit(1); assert len(cb.stats) == 1

def test_the_command_keeps_them_per_run(tmp_path):
    import json
    from fastmix.cli import compare
    compare(data='digits', epochs=2, seeds=1, limit=128, bs=32, mixup=1., runs=tmp_path/'runs', label_noise='0', quiet=True, log=lambda *a: None)
    r = json.loads((tmp_path/'runs'/'mixup_1_seed0.json').read_text())
    assert len(r['mix_lam_curve']) == 2 and all(0 < v < 1 for v in r['mix_lam_curve']) and r['mixed_curve'] == [1., 1.]
    assert 'mix_lam_curve' not in json.loads((tmp_path/'runs'/'none_seed0.json').read_text())
