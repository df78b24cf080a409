"Fixtures: a tiny real data set (scikit-learn's digits) and a learner factory, both offline. Helpers live in helpers.py."
import pytest, torch
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from helpers import digits16, tiny_cnn

@pytest.fixture(scope='session')
def digits(): return digits16()

@pytest.fixture
def make_learner(digits, tmp_path):
    "Build a fresh `Learner` on the digits with a small CNN"
    def _make(cbs=None, loss_func=None, bs=64, **kw):
        torch.manual_seed(0)
        dls = DataLoaders.from_dsets(*digits, bs=bs, device='cpu')
        return Learner(dls, tiny_cnn(), loss_func=loss_func or CrossEntropyLossFlat(), cbs=cbs, lr=2e-2,
                       path=tmp_path, **kw)      # lr_find saves a model there, not in the repo
    return _make
