"""One rank of the distributed test: `torchrun --nproc_per_node 2 tests/distributed_run.py OUT_DIR`.

Trains the small CNN on scikit-learn's digits for one epoch with a mixing callback inside fastai's
`learn.distrib_ctx()` (accelerate, gloo on CPU), then writes what it saw to OUT_DIR/rank{R}.json.
fastai's `DistributedDL._broadcast` moves the shuffled indices to CUDA (NCCL only), so on CPU ranks
a gloo-friendly broadcast replaces it here.
"""
import json, sys, warnings
warnings.filterwarnings('ignore')
from pathlib import Path
import torch
import torch.distributed as dist
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.distributed import DistributedDL, rank_distrib
from fastmix.callbacks import MixUp, CutMix, FMix, OneOfMix
sys.path.insert(0, str(Path(__file__).parent))
from helpers import digits16, tiny_cnn

def _broadcast_cpu(self, t, rank):
    "Broadcast the list `t` from `rank` over gloo (fastai's version needs CUDA)"
    t = torch.tensor(t, dtype=torch.long)
    dist.broadcast(t, rank)
    return t.tolist()
DistributedDL._broadcast = _broadcast_cpu

def main(out):
    torch.set_num_threads(1)
    train, valid = digits16()
    torch.manual_seed(0)                                    # same initial weights on every rank
    dls = DataLoaders.from_dsets(train[:512], valid[:128], bs=32, device='cpu')
    cb = OneOfMix(MixUp(), CutMix(), FMix())
    lf = CrossEntropyLossFlat()
    learn = Learner(dls, tiny_cnn(), loss_func=lf, lr=1e-2, cbs=cb)
    mixed, labels = [], []
    class Watch(Callback):
        order = 5                                           # after the mixing callback
        def before_batch(self):
            if self.training:
                mixed.append(bool(cb.shift != 0 and (cb.lam < 1).any()))
                labels.append(self.learn.yb[0][:4].tolist())
    with learn.distrib_ctx(sync_bn=False, cpu=True):
        learn.fit(1, cbs=Watch())
    rank = rank_distrib()
    params = torch.cat([p.detach().flatten() for p in learn.model.parameters()])
    res = dict(rank=rank, world=dist.get_world_size() if dist.is_initialized() else 1,
               losses=[float(l) for l in learn.recorder.losses], mixed=mixed, labels=labels,
               loss_func_restored=learn.loss_func is lf, model_unwrapped=type(learn.model).__name__,
               params=params.tolist()[:200], params_sum=float(params.double().sum()))
    Path(out, f'rank{rank}.json').write_text(json.dumps(res))

if __name__ == '__main__': main(sys.argv[1])
