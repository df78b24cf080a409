"Real `Learner.fit` runs on every kind of batch: unet segmentation, tabular, 1-D sequences and 3-D volumes."
import pytest, torch
import numpy as np, pandas as pd
from torch import nn
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import set_seed
from fastmix.callbacks import MixUp, CutMix, FMix

ALL = [MixUp, CutMix, FMix]

class Before(Callback):
    "Keeps each training batch as the DataLoader yielded it (runs before the mixing callback)"
    order = -5
    def __init__(self): self.batches = []
    def before_batch(self):
        if self.training: self.batches.append((self.learn.xb, self.learn.yb))

class After(Callback):
    "Keeps each mixed training batch with the mixing callback's λ, partners and masks (runs after it)"
    order = 5
    def __init__(self, mixer): self.mixer, self.batches = mixer, []
    def before_batch(self):
        if self.training:
            m = self.mixer
            self.batches.append((self.learn.xb, self.learn.yb, m.lam, m.perm, m.mask, list(m.kinds)))

def fit_and_watch(learn, cb, epochs=1):
    "Fit `learn` with `cb`, returning the batches before and after mixing"
    before, after = Before(), After(cb)
    lf = learn.loss_func
    learn.fit(epochs, cbs=[cb, before, after])
    losses = torch.stack([torch.as_tensor(l) for l in learn.recorder.losses])
    assert len(losses) and torch.isfinite(losses).all()
    assert learn.loss_func is lf
    return before.batches, after.batches

# --- segmentation with a real unet ------------------------------------------------------------------

LEVELS = (0, 120, 240)             # pixel value of background, square, disc: the class is readable off the image

def shapes(n, size=64, seed=0):
    "Synthetic segmentation data: a square (class 1) and a disc (class 2) per image, as uint8 arrays"
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    imgs, masks = np.zeros((n, size, size, 3), np.uint8), np.zeros((n, size, size), np.uint8)
    for i in range(n):
        r, c, s = *rng.integers(0, size - 20, 2), rng.integers(10, 20)
        masks[i, r:r + s, c:c + s] = 1
        cy, cx, rad = *rng.integers(12, size - 12, 2), rng.integers(6, 12)
        masks[i][(ys - cy) ** 2 + (xs - cx) ** 2 < rad ** 2] = 2
        imgs[i] = np.array(LEVELS, np.uint8)[masks[i]][..., None]
    return imgs, masks

@pytest.fixture(scope='module')
def seg_dls():
    from fastai.vision.all import DataBlock, ImageBlock, MaskBlock, PILImage, PILMask, IndexSplitter
    imgs, masks = shapes(24)
    db = DataBlock(blocks=(ImageBlock, MaskBlock(codes=['background', 'square', 'disc'])),
                   get_items=lambda _: list(range(len(imgs))),
                   get_x=lambda i: PILImage.create(imgs[i]), get_y=lambda i: PILMask.create(masks[i]),
                   splitter=IndexSplitter(list(range(16, 24))))
    return db.dataloaders(None, bs=8, device='cpu', num_workers=0)

def plain(t): return t.as_subclass(torch.Tensor)

def class_of(x):
    "The class each pixel of a mixed image came from, read off its grey level"
    return (plain(x)[:, 0] * 255 / 120).round().long()

@pytest.mark.parametrize('cls', ALL)
def test_unet_segmentation(seg_dls, cls, tmp_path):
    from fastai.vision.all import unet_learner, resnet18
    set_seed(0)
    learn = unet_learner(seg_dls, resnet18, pretrained=False, n_out=3, path=tmp_path)
    assert isinstance(learn.loss_func, CrossEntropyLossFlat) and learn.loss_func.axis == 1
    before, after = fit_and_watch(learn, cls())
    for (xb0, yb0), (xb, yb, lam, perm, mask, kinds) in zip(before, after):
        assert type(xb[0]) is type(xb0[0]) and type(yb[0]) is type(yb0[0])   # fastai's types: show_batch can decode
        x0, y0, x, y = plain(xb0[0]), plain(yb0[0]), plain(xb[0]), plain(yb[0])
        assert kinds == ['dense']
        assert torch.equal(class_of(x0), y0)                    # the data set is what it claims
        if cls is MixUp:
            assert yb[0] is yb0[0]                              # a constant mask cannot cut: the loss weighs per pixel
        else:
            assert torch.equal(class_of(x), y)                  # every pixel's label is the pixel's origin
            assert not torch.equal(y, y0)
            own = (y == y0) | (y0 == y0[perm])                  # pixels kept from the sample itself (or equal anyway)
            assert own[mask[:, 0] == 1].all()

# --- tabular ------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tab_dls():
    from fastai.tabular.all import TabularDataLoaders, Categorify, Normalize, CategoryBlock
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(dict(colour=rng.choice(['red', 'green', 'blue'], n), size=rng.choice(['S', 'M', 'L', 'XL'], n),
                           a=rng.normal(size=n), b=rng.normal(size=n)))
    df['y'] = ((df.a + (df.colour == 'red') - (df['size'] == 'S') + .3 * rng.normal(size=n)) > 0).map({True: 'yes', False: 'no'})
    return TabularDataLoaders.from_df(df, procs=[Categorify, Normalize], cat_names=['colour', 'size'],
                                      cont_names=['a', 'b'], y_names='y', y_block=CategoryBlock(), bs=64,
                                      valid_idx=list(range(240, 300)), device='cpu', num_workers=0)

def test_tabular_mixup(tab_dls, tmp_path):
    from fastai.tabular.all import tabular_learner, accuracy
    set_seed(1)
    learn = tabular_learner(tab_dls, layers=[32], metrics=accuracy, lr=1e-2, path=tmp_path)
    before, after = fit_and_watch(learn, MixUp(), epochs=5)
    for ((cats0, conts0), (y0,)), ((cats, conts), (y,), lam, perm, _, kinds) in zip(before, after):
        l = lam[:, None]
        assert kinds == ['label'] and y is y0
        torch.testing.assert_close(conts, l * conts0 + (1 - l) * conts0[perm])     # continuous columns: by λ
        assert torch.equal(cats, torch.where(l >= .5, cats0, cats0[perm]))        # codes: the dominant sample's
    assert learn.validate()[1] > .75                                              # it learns the rule

@pytest.mark.parametrize('cls', [CutMix, FMix])
def test_tabular_cutting_refused(tab_dls, cls, tmp_path):
    from fastai.tabular.all import tabular_learner
    learn = tabular_learner(tab_dls, layers=[8], path=tmp_path)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: needs an input .* use MixUp"): learn.fit(1, cbs=cls())
    assert learn.loss_func is not None and learn.validate() is not None

# --- sequences and volumes ---------------------------------------------------------------------------

def blocks(n, spatial, n_classes=3, seed=0):
    "(x, y) items: a random label map of boxes (B, *spatial), and the input (1, *spatial) = label / 4"
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(n, *spatial, dtype=torch.long)
    for k in range(1, n_classes):
        lo = [torch.randint(0, s // 2, (n,), generator=g) for s in spatial]
        inside = torch.ones(n, *spatial, dtype=torch.bool)
        for d, (s, l) in enumerate(zip(spatial, lo)):
            pos = torch.arange(s).view([1] + [-1 if i == d else 1 for i in range(len(spatial))])
            inside &= (pos >= l.view(-1, *[1] * len(spatial))) & (pos < (l + s // 2).view(-1, *[1] * len(spatial)))
        y[inside] = k
    x = (y.float() / 4)[:, None]
    return list(zip(x, y))

def seg_model(nd, k=3):
    conv = {1: nn.Conv1d, 3: nn.Conv3d}[nd]
    return nn.Sequential(conv(1, 8, 3, padding=1), nn.ReLU(), conv(8, k, 3, padding=1))

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('spatial', [(64,), (8, 10, 12)], ids=['1d', '3d'])
def test_dense_sequences_and_volumes(cls, spatial, tmp_path):
    set_seed(2)
    items = blocks(48, spatial)
    dls = DataLoaders.from_dsets(items[:32], items[32:], bs=8, device='cpu')
    # fastai's CrossEntropyLossFlat(axis=1) pairs volume pixels in a transposed order: plain torch for 3-D
    lf = CrossEntropyLossFlat(axis=1) if len(spatial) == 1 else nn.CrossEntropyLoss()
    learn = Learner(dls, seg_model(len(spatial)), loss_func=lf, lr=1e-2, path=tmp_path)
    before, after = fit_and_watch(learn, cls())
    for (xb0, yb0), (xb, yb, lam, perm, mask, kinds) in zip(before, after):
        assert kinds == ['dense']
        m = mask.float()
        torch.testing.assert_close(xb[0], m * xb0[0] + (1 - m) * xb0[0][perm])      # the input: a mask blend
        torch.testing.assert_close(lam, m.expand_as(xb0[0]).flatten(1).mean(1))     # λ: the mask's mean
        if cls is not MixUp: assert torch.equal((xb[0][:, 0] * 4).round().long(), yb[0])

def cls_model(nd, k=3):
    conv, pool = {1: (nn.Conv1d, nn.AdaptiveAvgPool1d), 3: (nn.Conv3d, nn.AdaptiveAvgPool3d)}[nd]
    return nn.Sequential(conv(1, 8, 3, padding=1), nn.ReLU(), pool(1), nn.Flatten(), nn.Linear(8, k))

@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('spatial', [(64,), (8, 10, 12)], ids=['1d', '3d'])
def test_classify_sequences_and_volumes(cls, spatial, tmp_path):
    set_seed(3)
    items = [(x, y.flatten().bincount(minlength=3).argmax()) for x, y in blocks(48, spatial, seed=1)]
    dls = DataLoaders.from_dsets(items[:32], items[32:], bs=8, device='cpu')
    learn = Learner(dls, cls_model(len(spatial)), loss_func=CrossEntropyLossFlat(), lr=1e-2, path=tmp_path)
    before, after = fit_and_watch(learn, cls())
    for (xb0, yb0), (xb, yb, lam, perm, mask, kinds) in zip(before, after):
        assert kinds == ['label'] and yb[0] is yb0[0]
        m = mask.float()
        torch.testing.assert_close(xb[0], m * xb0[0] + (1 - m) * xb0[0][perm])
