"The viewer and the galleries: what the figures hold, that showing changes nothing, clear errors."
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np, pytest, torch
from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, MultiCategoryBlock, MaskBlock, PILImage, PILMask,
                               IndexSplitter, Learner, DataLoaders, nn, CrossEntropyLossFlat)
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix
from fastmix.show import mixed_batch, show_mixed, mask_gallery, lam_plot

PHOTOS = None
def tile(k):
    i, j = divmod(k, 8)
    return PILImage.create(PHOTOS[i][(j // 4) * 150:(j // 4) * 150 + 64, (j % 4) * 150:(j % 4) * 150 + 64])
def label(k): return ['temple', 'flower'][k // 8]
def labels(k): return ['temple', 'sky'] if k < 8 else ['flower'] if k % 2 else ['flower', 'leaf']

@pytest.fixture(scope='module')
def photos():
    global PHOTOS
    from sklearn.datasets import load_sample_images
    PHOTOS = load_sample_images().images

def class_dls(photos, y=CategoryBlock, get_y=label):
    return DataBlock(blocks=(ImageBlock, y), get_x=tile, get_y=get_y, splitter=IndexSplitter([3, 11])
                     ).dataloaders(list(range(16)), bs=8, num_workers=0, device='cpu')

def titles(axs): return [a.get_title() for a in axs if a.get_title()]

def shares(title):
    "[(share, label), …] from '0.63 cat / 0.37 dog' (its last line: OneOfMix names the method on the line above)"
    return [(float(s.split(' ', 1)[0]), s.split(' ', 1)[1]) for s in title.split('\n')[-1].split(' / ')]

@pytest.mark.parametrize('cls', [MixUp, CutMix, FMix, OneOfMix])
def test_titles_give_both_labels_and_shares(photos, cls):
    dls = class_dls(photos)
    cb = OneOfMix(MixUp(), CutMix(), FMix()) if cls is OneOfMix else cls()
    axs = show_mixed(dls, cb=cb, max_n=6, nrows=2)
    ts = titles(axs)
    assert len(ts) == 6 and sum(1 for a in axs if a.images) == 6
    mb = mixed_batch(dls, cb)                                          # the same draw: the random state is kept
    for i, t in enumerate(ts):
        sh = shares(t)
        assert sum(s for s, _ in sh) == pytest.approx(1, abs=.011)
        assert sh[0][0] == pytest.approx(float(mb.lam[i]), abs=.006)
        assert {l for _, l in sh} <= {'temple', 'flower'}
        y = mb.b[1]
        assert sh[0][1] == dls.vocab[int(y[i])]
        if len(sh) == 2: assert sh[1][1] == dls.vocab[int(y[mb.perm[i]])]
    plt.close('all')

def test_multi_label_titles(photos):
    dls = class_dls(photos, MultiCategoryBlock, labels)
    ts = titles(show_mixed(dls, cb=CutMix(), max_n=4))
    assert len(ts) == 4
    for t in ts:
        for s, l in shares(t): assert set(l.split(';')) <= {'temple', 'sky', 'flower', 'leaf'}
    plt.close('all')

def test_mixed_images_shown_are_the_mixed_batch(photos):
    dls = class_dls(photos)
    mb = mixed_batch(dls, CutMix())
    axs = show_mixed(dls, cb=CutMix(), max_n=2, outline=True)
    shown = axs[0].images[0].get_array()                               # (H, W, 3) as drawn
    want = dls.decode_batch(mb.mixed, max_n=1)[0][0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(np.asarray(shown, dtype=float), want.astype(float), atol=1)
    assert axs[0].collections or (mb.lam[0] == 1)                      # the outline of the box
    plt.close('all')

def seg_dls():
    from test_fit_kinds import shapes
    imgs, masks = shapes(16, size=48)
    return DataBlock(blocks=(ImageBlock, MaskBlock(codes=['bg', 'square', 'disc'])), get_items=lambda _: list(range(16)),
                    get_x=lambda i: PILImage.create(imgs[i]), get_y=lambda i: PILMask.create(masks[i]),
                    splitter=IndexSplitter([14, 15])).dataloaders(None, bs=6, num_workers=0, device='cpu')

def test_segmentation_shows_image_and_mixed_mask():
    dls = seg_dls()
    mb = mixed_batch(dls, FMix())
    axs = show_mixed(dls, cb=FMix(), max_n=4)
    assert titles(axs)[0].startswith('λ = ')
    for i, ax in enumerate(axs[:4]):
        assert len(ax.images) == 2                                      # the image, and the mask over it
        np.testing.assert_array_equal(np.asarray(ax.images[1].get_array()), mb.mixed[1][i].numpy())
    plt.close('all')

@pytest.mark.parametrize('name', ['SmoothMix', 'MixUp'])
def test_soft_masks_show_the_label_maps_the_loss_weighs(name):
    "The third week's item 9: with a soft mask the label map shown is each pixel's dominant target, own or partner's"
    from fastmix.callbacks import SmoothMix
    dls, cb = seg_dls(), (SmoothMix(1.) if name == 'SmoothMix' else MixUp(1., max_lam=False))
    seed = next(s for s in range(50) if torch.manual_seed(s) and (mixed_batch(dls, cb).mask[:4] < .5).any())   # a partner shows
    torch.manual_seed(seed); mb = mixed_batch(dls, cb)
    torch.manual_seed(seed); axs = show_mixed(dls, cb=cb, max_n=4)
    assert mb.record.weighed == (True,)
    own, perm = mb.mixed[1], mb.perm
    differs = 0
    for i, ax in enumerate(axs[:4]):
        m = mb.mask[i if mb.mask.shape[0] > 1 else 0, 0]
        want = torch.where(m >= .5, own[i], own[perm[i]])
        np.testing.assert_array_equal(np.asarray(ax.images[1].get_array()), want.numpy())
        differs += int(not torch.equal(want, own[i]))
    assert differs                                                      # the partner's label map does show
    plt.close('all')

@pytest.fixture(scope='module')
def tab_dls():
    import pandas as pd
    from fastai.tabular.all import TabularDataLoaders, Categorify, Normalize
    rng = np.random.default_rng(0)
    df = pd.DataFrame(dict(colour=rng.choice(['red', 'green', 'blue'], 64), a=rng.normal(size=64).round(2)))
    df['y'] = np.where(df.a > 0, 'yes', 'no')
    return TabularDataLoaders.from_df(df, procs=[Categorify, Normalize], cat_names=['colour'], cont_names=['a'],
                                      y_names='y', y_block=CategoryBlock(), bs=16, num_workers=0, device='cpu')

def test_tabular_batch_as_a_table(tab_dls):
    t = show_mixed(tab_dls, cb=MixUp(alpha=1., max_lam=False), max_n=5)
    assert len(t) == 5 and {'own', 'partner', 'mixed', ''} == set(t.columns.get_level_values(0))
    lam = t[('', 'λ')].to_numpy()
    dominant = np.where(lam >= .5, t[('own', 'colour')], t[('partner', 'colour')])
    assert (t[('mixed', 'colour')].to_numpy() == dominant).all()
    np.testing.assert_allclose(t[('mixed', 'a')], lam * t[('own', 'a')] + (1 - lam) * t[('partner', 'a')], atol=1e-4)

def test_showing_changes_nothing(photos, tmp_path):
    "A fit after showing is the fit without it: same losses, the callback untouched"
    runs = []
    for show in (False, True):
        set_seed(0)
        dls = class_dls(photos)
        cb = FMix()
        learn = Learner(dls, nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 2)), loss_func=CrossEntropyLossFlat(),
                        cbs=cb, path=tmp_path)
        if show:
            show_mixed(learn); mixed_batch(learn); plt.close('all')
            assert cb.mixed is None and cb.learn is learn
        with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
        runs.append([float(l) for l in learn.recorder.losses])
    assert runs[0] == runs[1]

def test_bad_input_named(photos):
    dls = class_dls(photos)
    with pytest.raises(ValueError, match="show_mixed: with DataLoaders, pass the mixer"): show_mixed(dls)
    with pytest.raises(TypeError, match="show_mixed: `cb` must be a mixer"): show_mixed(dls, cb=nn.ReLU())
    with pytest.raises(TypeError, match="show_mixed: `source` must be a Learner or DataLoaders"): show_mixed([1, 2], cb=MixUp())
    empty = DataLoaders.from_dsets([], [(torch.randn(3, 8, 8), 0)], bs=4, device='cpu')
    with pytest.raises(ValueError, match="show_mixed: the DataLoaders have no training items"): show_mixed(empty, cb=MixUp())
    with pytest.raises(ValueError, match="CutMix: `alpha`"): show_mixed(dls, cb=CutMix(alpha=-1))
    plain = DataLoaders.from_dsets([(torch.randn(5), 0)] * 8, [(torch.randn(5), 0)] * 2, bs=4, device='cpu')
    with pytest.raises(TypeError, match="show_mixed: fastai cannot decode or show these items"):
        show_mixed(plain, cb=MixUp())

def test_galleries_masks_have_their_lam():
    fig = mask_gallery('cutmix', lams=(.2, .5, .8), spatial=(30, 40))
    for ax in fig.axes:
        assert ax.images[0].get_array().mean() == pytest.approx(float(ax.get_title()[2:]), abs=.0051)   # 2 decimals
    fig = mask_gallery('fmix', lams=(.3, .7), decay_powers=(2, 3), spatial=(8, 9, 10))
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == 'decay_power=2'
    torch.manual_seed(0); a = torch.rand(2); torch.manual_seed(0); lam_plot(n=500); b = torch.rand(2)
    assert torch.equal(a, b)
    plt.close('all')

def ten_times(k): return float(10 * k)

def test_regression_titles_show_values_and_the_mixed_target(photos):
    "Regression targets are values, not labels with shares: 'mixed = λ×own + (1-λ)×partner'"
    from fastai.vision.all import RegressionBlock
    dls = DataBlock(blocks=(ImageBlock, RegressionBlock), get_x=tile, get_y=ten_times, splitter=IndexSplitter([3, 11])
                    ).dataloaders(list(range(16)), bs=8, num_workers=0, device='cpu')
    cb = MixUp(max_lam=False)
    ts = titles(show_mixed(dls, cb=cb, max_n=6))
    mb = mixed_batch(dls, cb)                                          # the same draw: the random state is kept
    assert len(ts) == 6
    for i, t in enumerate(ts):
        lam, own, other, mixed = float(mb.lam[i]), float(mb.b[1][i]), float(mb.b[1][mb.perm[i]]), float(mb.mixed[1][i])
        assert mixed == pytest.approx(lam * own + (1 - lam) * other, abs=1e-4)
        assert t == (f"{own:.3g}" if lam >= .995 else f"{mixed:.3g} = {lam:.2f}×{own:.3g} + {1 - lam:.2f}×{other:.3g}")
    plt.close('all')

def test_fastais_own_mixer_gets_the_import_order_hint(photos):
    "fastai's CutMix (what `from fastai.vision.all import *` after fastmix's import gives) is named as fastai's, with the fix"
    dls = class_dls(photos)
    from fastai.callback.mixup import CutMix as FastaiCutMix, MixUp as FastaiMixUp
    for cb in (FastaiCutMix(), FastaiMixUp, FastaiCutMix):
        with pytest.raises(TypeError, match=r"`cb` must be a mixer .*fastai's own callback \(fastai\.callback\.mixup\).*import fastmix after fastai"):
            show_mixed(dls, cb=cb)
