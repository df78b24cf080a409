"fastai's `learn.distrib_ctx()` (accelerate) with 2 CPU processes over gloo, launched with torchrun."
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest

pytest.importorskip('accelerate', reason="fastai's distributed training needs accelerate (a dev dependency)")

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_two_cpu_ranks_train_in_sync(tmp_path):
    script = Path(__file__).parent/'distributed_run.py'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), str(script), str(tmp_path)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path/f'rank{i}.json').read_text()) for i in (0, 1)]
    assert [o['rank'] for o in ranks] == [0, 1] and all(o['world'] == 2 for o in ranks)
    for o in ranks:
        assert len(o['losses']) == 8 and all(l == l and abs(l) < 1e3 for l in o['losses'])   # finite
        assert all(o['mixed']) and o['loss_func_restored'] and o['model_unwrapped'] == 'Sequential'
    assert ranks[0]['labels'] != ranks[1]['labels']              # each rank trained on its own share of the data
    assert ranks[0]['params'] == ranks[1]['params']              # and the weights stayed in sync
    assert ranks[0]['params_sum'] == ranks[1]['params_sum']
