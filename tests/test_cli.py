"The `fastmix` command end to end: a tiny slice of digits, a tiny image folder, and bad input (exit 2, one line, nothing written)."
import csv, json, os, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image

EXE = Path(sys.executable).parent/'fastmix'

def fastmix(*args, cwd=None):
    "Run the installed console command"
    env = dict(os.environ, PYTHONWARNINGS='ignore', MPLBACKEND='Agg')
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)

def image_folder(root:Path, classes=('cats', 'dogs'), n=8, size=20, modes=None, layout='flat'):
    "A tiny ImageFolder: each class a colour, `n` images per class"
    rng = np.random.default_rng(0)
    for ci, c in enumerate(classes):
        for i in range(n):
            sub = root/c if layout == 'flat' else root/('train' if i < n - 2 else 'valid')/c
            sub.mkdir(parents=True, exist_ok=True)
            a = np.clip(rng.normal(60 + 120 * ci, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            mode = (modes or {}).get((c, i), 'RGB')
            Image.fromarray(a).convert(mode).save(sub/f'{i}.png')
    return root

def test_command_is_installed_and_documented():
    assert EXE.exists(), "pip install -e . installs the `fastmix` command"
    r = fastmix('--help')
    assert r.returncode == 0
    for flag in ('--mixup', '--cutmix', '--fmix', '--decay-power', '--mix-prob', '--switch-prob', '--mode', '--off-epoch',
                 '--label-smoothing', '--max-lam', '--epochs', '--bs', '--lr', '--size', '--arch', '--seeds', '--out'):
        assert flag in r.stdout, flag

def test_digits_slice_end_to_end(tmp_path):
    out = tmp_path/'run'
    r = fastmix('--epochs', 1, '--seeds', 2, '--limit', 200, '--out', out)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith('fastmix: comparing none, MixUp(0.4), CutMix(1), FMix(1) on digits: 200 training')
    assert 'about' in lines[1] and '8 runs' in lines[1]                      # says how long it will take
    table = r.stdout[r.stdout.index('\nsetting ') + 1:]
    for name in ('none', 'MixUp(0.4)', 'CutMix(1)', 'FMix(1)'): assert f'\n{name} ' in table
    with open(out/'results.csv') as f: rows = list(csv.DictReader(f))
    assert [row['setting'] for row in rows] == ['none', 'MixUp(0.4)', 'CutMix(1)', 'FMix(1)']
    assert all(0 <= float(row['valid_acc']) <= 1 and row['seeds'] == '2' for row in rows)
    for row in rows:                                                         # what mixing is for, beside accuracy
        assert float(row['valid_acc']) <= float(row['best_acc']) <= 1 and float(row['valid_nll']) > 0
        assert 0 <= float(row['valid_ece']) <= 1 and 0 <= float(row['occluded_acc']) <= 1
    res = json.loads((out/'results.json').read_text())
    assert res['args']['epochs'] == 1 and len(res['runs']['FMix(1)']) == 2
    assert len(res['runs']['none'][0]['valid_acc_curve']) == 1
    assert {'best_epoch', 'valid_nll', 'valid_ece', 'occluded_acc'} <= set(res['runs']['none'][0])
    assert 'occluded' in table.splitlines()[0] and 'ECE' in table.splitlines()[0]
    names = sorted(p.name for p in out.iterdir())
    assert names == ['curves.png', 'mixed_cutmix_1.png', 'mixed_fmix_1.png', 'mixed_mixup_0_4.png', 'results.csv', 'results.json']
    assert not list(tmp_path.glob('.fastmix-*'))                             # no temporary folder left behind

def test_image_folder_with_flags(tmp_path):
    data = image_folder(tmp_path/'imgs', layout='split')
    out = tmp_path/'out'
    r = fastmix('--data', data, '--cutmix', 1, '--fmix', .5, '--switch-prob', .3, '--mode', 'batch', '--mix-prob', .8,
                '--label-smoothing', .1, '--epochs', 1, '--seeds', 1, '--bs', 4, '--size', 16, '--out', out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'on ' + str(data) + ': 12 training and 4 validation images of 3x16x16, 2 classes' in r.stdout
    res = json.loads((out/'results.json').read_text())
    assert [row['setting'] for row in res['results']] == ['none', 'CutMix(1)', 'FMix(0.5)', 'OneOfMix(CutMix, FMix)']
    assert (out/'mixed_oneofmix_cutmix__fmix.png').stat().st_size > 5000

def bad_case(case, tmp_path):
    "The arguments of one bad-input case (making its folder), and the message it must give"
    d = tmp_path/'d'
    if case == 'empty folder': d.mkdir()
    if case == 'no class folders':
        d.mkdir(); Image.new('RGB', (8, 8)).save(d/'a.png')
    if case == 'one class': image_folder(d, classes=('only',))
    if case == 'limit to one class': image_folder(d, classes=('big',) + ('small',), n=40)
    return {'missing folder': (dict(data=tmp_path/'nope'), 'no such folder'),
            'empty folder': (dict(data=d), 'no images in class sub-folders'),
            'no class folders': (dict(data=d), '1 images but no class sub-folders'),
            'one class': (dict(data=d), 'only one class'),
            'out empty': (dict(out=''), "--out '': give the name of a folder"),
            'out under a file': (dict(out=tmp_path/'afile'/'run'), 'is a file, not a folder'),
            'epochs 0': (dict(epochs=0), '--epochs must be 1 or more'),
            'alpha 0': (dict(cutmix=0.), '--cutmix must be an alpha > 0'),
            'negative alpha': (dict(fmix=-1.), '--fmix must be an alpha > 0'),
            'bad mode': (dict(mode='sample'), "--mode must be 'elem' or 'batch'"),
            'bad mix prob': (dict(mix_prob=2.), "MixUp: --mix-prob must be a finite number in [0, 1], got 2.0"),
            'offline URLs': (dict(data='IMAGENETTE_160'), 'you seem to be offline'),
            'unknown name': (dict(data='NOT_A_DATASET'), "nor a data set in fastai's URLs")}[case]

CASES = ['missing folder', 'empty folder', 'no class folders', 'one class', 'epochs 0', 'alpha 0',
         'negative alpha', 'bad mode', 'bad mix prob', 'offline URLs', 'unknown name', 'out empty', 'out under a file']

@pytest.mark.parametrize('case', CASES)
def test_bad_input_named_and_nothing_written(tmp_path, case):
    from fastmix.cli import compare, BadInput
    (tmp_path/'afile').write_text('not a folder')
    kw, want = bad_case(case, tmp_path)
    out = tmp_path/'out'
    with pytest.raises(BadInput, match=want.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[').replace(']', r'\]')):
        compare(**{'epochs': 1, 'out': out, **kw}, seeds=1, log=lambda *a: None)
    assert not out.exists() and not list(tmp_path.glob('.fastmix-*'))

@pytest.mark.parametrize('case', ['unknown flag', 'bad mix prob', 'alpha 0'])
def test_bad_input_from_the_command_one_line_exit_2(tmp_path, case):
    out = tmp_path/'out'
    if case == 'unknown flag': args, want = ['--mixupp', 1], 'unrecognized arguments: --mixupp'
    else:
        kw, want = bad_case(case, tmp_path)
        args = [a for k, v in kw.items() for a in (f"--{k.replace('_', '-')}", v)] + ['--epochs', 1]
    r = fastmix(*args, '--out', out, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    err = [l for l in r.stderr.splitlines() if l.strip()]
    assert want in err[-1], err
    if case != 'unknown flag': assert len(err) == 1 and err[0].startswith('fastmix: error: '), r.stderr
    assert not out.exists()

def test_user_folders_greyscale_and_truncated(tmp_path):
    "A greyscale image among colour ones is converted on load; a truncated one is skipped with one line that counts it"
    from fastmix.cli import compare
    d = image_folder(tmp_path/'d', n=10, modes={('dogs', 3): 'L'})
    bad = d/'cats'/'7.png'; bad.write_bytes(bad.read_bytes()[:200])               # truncated
    lines = []
    rows = compare(data=d, epochs=1, seeds=1, bs=4, size=16, quiet=True, log=lines.append)
    assert len(rows) == 4
    assert sum(l.startswith('fastmix: skipping 1 unreadable image') for l in lines) == 1, lines
    first = next(l for l in lines if l.startswith('fastmix: comparing'))
    tr, va = (int(first.split(' training and ')[0].split()[-1]), int(first.split(' training and ')[1].split()[0]))
    assert tr + va == 19 and '3x16x16' in first                                   # greyscale made RGB

def test_limit_samples_training_images_and_keeps_validation(tmp_path):
    from fastmix.cli import compare
    d = image_folder(tmp_path/'d', n=20)
    lines = []
    compare(data=d, mixup=.4, epochs=1, seeds=1, bs=4, size=16, limit=12, quiet=True, log=lines.append)
    assert ': 12 training and 8 validation images of 3x16x16, 2 classes' in lines[0], lines[0]

def test_limit_keeps_two_classes_or_says_so(tmp_path):
    from fastmix.cli import compare, BadInput
    d = image_folder(tmp_path/'d', classes=('big', 'small'), n=6, layout='split')
    for f in (d/'train'/'small').iterdir(): f.unlink()                                # 'small' only among the validation images
    with pytest.raises(BadInput, match=r"(hold only 1 class|only one class) \(big\); need two or more"):
        compare(data=d, epochs=1, seeds=1, bs=2, size=16, limit=3, quiet=True, log=lambda *a: None, out=tmp_path/'o')
    assert not (tmp_path/'o').exists()

def test_out_replaces_an_earlier_run_and_stages_beside_it(tmp_path):
    from fastmix.cli import compare
    out = tmp_path/'new'/'deeper'/'run'                                            # parents do not exist yet
    lines = []
    compare(mixup=.4, epochs=1, seeds=1, limit=64, quiet=True, out=out, log=lines.append)
    (out/'mixed_cutmix_1.png').write_bytes(b'an earlier run')
    compare(fmix=1., epochs=1, seeds=1, limit=64, quiet=True, out=out, log=lines.append)
    assert sorted(p.name for p in out.iterdir()) == ['curves.png', 'mixed_fmix_1.png', 'results.csv', 'results.json']
    assert "replacing an earlier run's results" in lines[-1]
    assert not list(out.parent.glob('.fastmix-*'))

def test_same_command_twice_same_table(tmp_path):
    "Each seed reproduces across processes: fastai seeds a DataLoader's shuffle when it is built, so the command reseeds it"
    outs = []
    for k in range(2):
        r = fastmix('--fmix', 1, '--epochs', 1, '--seeds', 1, '--limit', 128, '--out', tmp_path/f'r{k}')
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append(json.loads((tmp_path/f'r{k}'/'results.json').read_text())['runs'])
        assert 'Epoch 1/1' not in r.stdout                                       # piped: no progress-bar frames
    assert outs[0] == [] or all(a['valid_loss'] == b['valid_loss'] and a['train_loss_curve'] == b['train_loss_curve']
                                for k in outs[0] for a, b in zip(outs[0][k], outs[1][k]))
    assert 'fastmix: small model, 1 epoch x 1 seed x 2 settings = 2 runs' in r.stdout

def test_occlusion_is_the_same_for_every_setting(tmp_path):
    "Every setting and seed is scored on the same occluded images: box i goes with validation item i"
    from fastmix.cli import evaluate, occlusion_masks
    from fastmix.demo import digits_dls
    dls = digits_dls(16, bs=64, limit=64, device='cpu')
    occ = occlusion_masks(len(dls.valid_ds), (16, 16))
    seen = []
    class Model(torch.nn.Module):                                            # records the inputs it is shown
        def forward(self, x): seen.append(x.clone()); return torch.zeros(len(x), 10)
    from fastai.learner import Learner
    learn = Learner(dls, Model())
    evaluate(learn, occ); first = seen[1::2]; seen.clear()
    evaluate(learn, occ); second = seen[1::2]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    x = torch.cat([b[0] for b in dls.valid])
    assert torch.equal(torch.cat(first), x * occ)
