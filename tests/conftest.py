"Shared fixtures: a tiny real data set (scikit-learn's digits) and a small CNN, both offline."
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from sklearn.datasets import load_digits

class Holder:
    "Just enough of a `Learner` for a callback's `before_batch` and `after_loss`"
    training = True
    def __init__(self, xb, yb, loss_func=None): self.xb, self.yb, self.loss_func = xb, yb, loss_func

def attach(cb, xb, yb, loss_func=None):
    "Attach `cb` to a `Holder` of `xb`/`yb` and return the holder"
    learn = Holder(tuple(xb), tuple(yb), loss_func)
    cb.learn = learn
    return learn

def digits_items():
    "scikit-learn's 8x8 handwritten digits, upscaled to 16x16, as (train, valid) lists of (x, y)"
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    x = F.interpolate(x, size=(16, 16), mode='bilinear', align_corners=False)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(x), generator=g)
    items = [(x[i], y[i]) for i in idx.tolist()]
    return items[:1400], items[1400:]

@pytest.fixture(scope='session')
def digits(): return digits_items()

def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10))

@pytest.fixture
def make_learner(digits, tmp_path):
    "Build a fresh `Learner` on the digits with a small CNN"
    def _make(cbs=None, loss_func=None, bs=64, **kw):
        torch.manual_seed(0)
        dls = DataLoaders.from_dsets(*digits, bs=bs, device='cpu')
        return Learner(dls, small_cnn(), loss_func=loss_func or CrossEntropyLossFlat(), cbs=cbs, lr=2e-2,
                       path=tmp_path, **kw)      # lr_find saves a model there, not in the repo
    return _make
