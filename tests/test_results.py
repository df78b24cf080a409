"Kept results and the validation schedule: `--runs` keeps each finished run and reads it back, `--valid-part` validates a fixed part until the last 10 epochs, and benchmarks/cifar10.py reprints its table from the files (a tiny generated folder, seconds)."
import importlib.util, json, statistics
from pathlib import Path
import pytest
from test_cli import image_folder

ROOT = Path(__file__).resolve().parents[1]

def bench():
    spec = importlib.util.spec_from_file_location('bench_cifar10', ROOT/'benchmarks'/'cifar10.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    "fastai's CIFAR layout in miniature: 3 classes, 10 training and 8 test images each"
    d = tmp_path_factory.mktemp('tiny')/'cifar'
    for split, n in (('train', 10), ('test', 8)): image_folder(d/split, classes=('cat', 'dog', 'frog'), n=n, size=8)
    return d

def settings():
    from fastmix.callbacks import MixUp
    return {'none': lambda: None, 'MixUp(1)': lambda: MixUp(1.)}

KW = dict(size=8, bs=5, epochs=12, valid_part=5, quiet=True)

def test_runs_are_kept_read_back_and_grown(folder, tmp_path):
    from fastmix.cli import compare
    from fastmix.checks import BadInput
    from fastmix.comparison import load_runs
    runs, lines = tmp_path/'runs', []
    rows = compare(data=folder, seeds=1, runs=runs, setting_fns=settings(), log=lines.append, **KW)
    assert sorted(f.name for f in runs.iterdir()) == ['args.json', 'mixup_1_seed0.json', 'none_seed0.json']   # no checkpoint left
    trained = lambda ls: [l for l in ls if l.startswith('fastmix: [')]
    assert len(trained(lines)) == 2
    kept = load_runs(runs)
    assert list(kept) == ['none', 'MixUp(1)'] and [r['valid_acc'] for rs in kept.values() for r in rs] == [r['valid_acc'] for r in rows]
    lines2 = []
    rows2 = compare(data=folder, seeds=2, runs=runs, setting_fns=settings(), log=lines2.append, **KW)
    assert [l.split('] ')[1].split(' (')[0] for l in trained(lines2)] == ['none, seed 1', 'MixUp(1), seed 1']       # seed 0 read back, not trained
    assert [len(rs) for rs in load_runs(runs).values()] == [2, 2] and all(r['seeds'] == 2 for r in rows2)
    assert ', 2 read back from ' in lines2[1] and '2 to train' in lines2[1]
    lines3 = []
    rows3 = compare(data=folder, seeds=2, runs=runs, setting_fns=settings(), log=lines3.append, **KW)
    assert not trained(lines3) and lines3[0] == f"fastmix: comparing none, MixUp(1): all 4 runs read back from {runs}; nothing to train"
    assert [r['valid_acc'] for r in rows3] == [r['valid_acc'] for r in rows2]
    assert [r['valid_acc'] for r in load_runs(runs)['none']][0] == rows[0]['valid_acc']
    before = sorted((f.name, f.read_text()) for f in runs.iterdir())
    with pytest.raises(BadInput, match=r"--runs .*other flags \(lr\); give another folder"):
        compare(data=folder, seeds=1, runs=runs, setting_fns=settings(), lr=.5, log=lambda *a: None, **KW)
    assert sorted((f.name, f.read_text()) for f in runs.iterdir()) == before     # refused: nothing touched
    (tmp_path/'other').mkdir(); (tmp_path/'other'/'notes.txt').write_text('mine')
    with pytest.raises(BadInput, match="holds files but no args.json"):
        compare(data=folder, seeds=1, runs=tmp_path/'other', setting_fns=settings(), log=lambda *a: None, **KW)
    assert (tmp_path/'other'/'notes.txt').read_text() == 'mine'

def test_valid_part_until_the_last_ten_epochs(folder, tmp_path):
    "Epochs 1-2 of 12 are validated on 5 of the 24 test images (accuracy in fifths), the last 10 and the final figures on all 24"
    from fastmix.cli import compare
    compare(data=folder, seeds=1, runs=tmp_path/'runs', setting_fns={'none': lambda: None}, log=lambda *a: None, **KW)
    r = json.loads((tmp_path/'runs'/'none_seed0.json').read_text())
    assert (r['valid_part'], r['full_from'], r['n_valid']) == (5, 2, 24)
    on_part, on_all = r['valid_acc_curve'][:2], r['valid_acc_curve'][2:]
    assert all(abs(a * 5 - round(a * 5)) < 1e-6 for a in on_part)
    assert all(abs(a * 24 - round(a * 24)) < 1e-6 for a in on_all) and len(on_all) == 10
    assert r['valid_acc'] == on_all[-1] and r['last10_acc'] == statistics.median(on_all)

def test_benchmark_table_is_reprinted_from_the_files(folder, tmp_path, capsys):
    from fastmix.cli import compare
    b, runs = bench(), tmp_path/'runs'
    rows = compare(data=folder, seeds=2, runs=runs, setting_fns=settings(), log=lambda *a: None, **KW)
    b.main(['--table', '--runs', str(runs)])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith('| setting | seeds | accuracy | ± binomial |') and len(out) == 4
    for line, row in zip(out[2:], rows):
        cells = [c.strip() for c in line.strip('|').split('|')]
        assert cells[0] == row['setting'] and cells[1] == '2'
        assert cells[2] == f"{100 * row['valid_acc']:.2f} ± {100 * row['valid_acc_std']:.2f}"
        assert cells[3] == f"{100 * (row['valid_acc'] * (1 - row['valid_acc']) / 24) ** .5:.2f}"
        assert cells[5] == f"{row['valid_nll']:.3f}"
    b.main(['--table', '--runs', str(runs), '--settings', 'MixUp(1)'])
    assert [l.split('|')[1].strip() for l in capsys.readouterr().out.strip().splitlines()[2:]] == ['MixUp(1)']
    b.main(['--table', '--brief', '--runs', str(runs)])
    brief = [[c.strip() for c in l.strip('|').split('|')] for l in capsys.readouterr().out.strip().splitlines()]
    assert brief[0][:4] == ['setting', 'seeds', 'accuracy, %', 'vs none, same seeds'] and len(brief) == 4
    kept = lambda seed: [json.loads((runs/f'{tag}_seed{seed}.json').read_text())['valid_acc'] for tag in ('none', 'mixup_1')]
    seed0, seed1 = kept(0), kept(1)                                                              # [none, MixUp(1)] of each seed
    lead = 100 * statistics.mean(m - n for n, m in (seed0, seed1))                               # paired by seed
    assert brief[3][0] == 'MixUp(1)' and brief[3][3] == f"{lead:+.1f}" and brief[2][3] == ''      # none has no lead over itself
    assert brief[3][2] == f"{100 * rows[1]['valid_acc']:.1f} ± {100 * rows[1]['valid_acc_std']:.1f}"
    (runs/'none_seed1.json').unlink()                                                            # a seed none lacks is left out
    b.main(['--table', '--brief', '--runs', str(runs)])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[3].split('|')[4].strip() == f"{100 * (seed0[1] - seed0[0]):+.1f}"
    b.main(['--table', '--runs', str(tmp_path/'empty')])
    assert 'no finished runs' in capsys.readouterr().out
    with pytest.raises(SystemExit): b.main(['--brief', '--runs', str(runs)])                     # --brief alone: refused, nothing trained
    assert '--brief goes with --table' in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no setting 'CutMix9'"): b.setting_names('main,CutMix9')
    assert b.setting_names('none,main') == ['none', 'MixUp(1)', 'CutMix(0.2)', 'FMix(0.2)']

def test_bf16_on_the_cpu_trains_in_bf16(folder, tmp_path):
    "--bf16 true on the CPU says so in one line and autocasts the forward pass to bfloat16 (fastai's MixedPrecision would not)"
    import torch
    from fastmix.cli import compare
    from fastmix.callbacks import CutMix
    from fastai.callback.core import Callback
    seen = []
    class Dtype(Callback):
        order = 20
        def after_pred(self):
            if self.training: seen.append(torch.is_autocast_enabled('cpu'))
    lines = []
    compare(data=folder, seeds=1, setting_fns={'CutMix': lambda: [CutMix(), Dtype()]},
            bf16=True, log=lines.append, **dict(KW, epochs=1))
    assert any(l.startswith("fastmix: --bf16 on the CPU: bfloat16 through torch's CPU autocast") for l in lines)
    assert seen and all(seen)

def test_ablation_table_pairs_by_seed_and_gives_a_verdict():
    "benchmarks/cifar10.py --ablation: each difference against its default over the seeds both have, mean ± SE, and a verdict at 2 SE"
    b = bench()
    run = lambda seed, acc: dict(seed=seed, valid_acc=acc)
    runs = {'none': [run(0, .50), run(1, .52), run(2, .51)],
            'CutMix(1)': [run(0, .55), run(1, .56), run(2, .54)],
            'CutMix(1) max_lam': [run(0, .58), run(1, .59), run(2, .575), run(3, .9)],     # seed 3 has no partner: left out
            'FMix(1)': [run(0, .55), run(1, .56)], 'FMix(1) max_lam': [run(0, .56), run(1, .55)]}
    assert b.paired(runs['CutMix(1) max_lam'], runs['CutMix(1)']) == pytest.approx([3., 3., 3.5])
    assert b.verdict([3., 3., 3.5]) == 'better' and b.verdict([1., -1.]) == 'no difference shown' and b.verdict([-3., -3.2]) == 'worse'
    assert b.verdict([5.]) == 'one seed: no verdict'
    rows = [[c.strip() for c in l.strip('|').split('|')] for l in b.ablation_table(runs).splitlines()[2:]]
    assert rows[0][:5] == ['CutMix(1) max_lam', 'CutMix(1)', '3', '+3.2 ± 0.2', 'better'] and rows[0][5] == '+7.2 ± 0.4'
    assert rows[1][:5] == ['FMix(1) max_lam', 'FMix(1)', '2', '+0.0 ± 1.0', 'no difference shown']
