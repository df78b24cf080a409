"Helpers the tests share: small batches, the demo data and model (fixtures live in conftest.py)."
import torch
from fastai.callback.core import Callback
from fastmix.demo import digits, small_cnn

def images(bs=8, c=3, spatial=(12, 10), dtype=torch.float32):
    "A batch of random images (bs, c, *spatial)"
    return torch.randn(bs, c, *spatial).to(dtype)

def is_box(m):
    "Is the zero set of each 2-D binary mask (n, H, W) a product of intervals?"
    z = m == 0
    return (z == (z.any(2)[:, :, None] & z.any(1)[:, None, :])).flatten(1).all(1)

def tiny_cnn():
    "The model of the fit tests: `fastmix.demo.small_cnn` for one channel and 10 classes"
    return small_cnn(1, 10)

def digits16():
    "scikit-learn's digits at 16x16, as (train, valid) lists of (x, y) with tensor labels"
    return tuple([(x, torch.tensor(y)) for x, y in part] for part in digits(16))

class Raiser(Callback):
    "Raises `exc` at `event` on the second training batch; `order` places it among the callbacks"
    def __init__(self, event, exc, order=5): self.event, self.exc, self.n, self.order = event, exc, 0, order
    def __call__(self, event_name):
        if event_name == self.event and self.learn.training:
            self.n += 1
            if self.n == 2: raise self.exc
        return super().__call__(event_name)
