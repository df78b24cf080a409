"The `fastmix` command end to end: a tiny slice of digits, a tiny image folder, and bad input (exit 2, one line, nothing written)."
import csv, json, os, subprocess, sys
from pathlib import Path
import numpy as np, pytest
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
    table = r.stdout[r.stdout.index('setting'):]
    for name in ('none', 'MixUp(0.4)', 'CutMix(1)', 'FMix(1)'): assert f'\n{name} ' in table
    with open(out/'results.csv') as f: rows = list(csv.DictReader(f))
    assert [row['setting'] for row in rows] == ['none', 'MixUp(0.4)', 'CutMix(1)', 'FMix(1)']
    assert all(0 <= float(row['valid_acc']) <= 1 and row['seeds'] == '2' for row in rows)
    res = json.loads((out/'results.json').read_text())
    assert res['args']['epochs'] == 1 and len(res['runs']['FMix(1)']) == 2
    assert len(res['runs']['none'][0]['valid_acc_curve']) == 1
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
    if case == 'mixed channels': image_folder(d, modes={('dogs', 3): 'L', ('cats', 5): 'L'})
    return {'missing folder': (dict(data=tmp_path/'nope'), 'no such folder'),
            'empty folder': (dict(data=d), 'no images in class sub-folders'),
            'no class folders': (dict(data=d), '1 images but no class sub-folders'),
            'one class': (dict(data=d), 'only one class'),
            'mixed channels': (dict(data=d), 'different numbers of channels: 2 with 1 channel'),
            'epochs 0': (dict(epochs=0), '--epochs must be 1 or more'),
            'alpha 0': (dict(cutmix=0.), '--cutmix must be an alpha > 0'),
            'negative alpha': (dict(fmix=-1.), '--fmix must be an alpha > 0'),
            'bad mode': (dict(mode='sample'), "`mode` must be 'elem' or 'batch'"),
            'offline URLs': (dict(data='IMAGENETTE_160'), 'you seem to be offline'),
            'unknown name': (dict(data='NOT_A_DATASET'), "nor a data set in fastai's URLs")}[case]

CASES = ['missing folder', 'empty folder', 'no class folders', 'one class', 'mixed channels', 'epochs 0', 'alpha 0',
         'negative alpha', 'bad mode', 'offline URLs', 'unknown name']

@pytest.mark.parametrize('case', CASES)
def test_bad_input_named_and_nothing_written(tmp_path, case):
    from fastmix.cli import compare, BadInput
    kw, want = bad_case(case, tmp_path)
    out = tmp_path/'out'
    with pytest.raises(BadInput, match=want.replace('(', r'\(').replace(')', r'\)')):
        compare(**{'epochs': 1, **kw}, seeds=1, out=out, log=lambda *a: None)
    assert not out.exists() and not list(tmp_path.glob('.fastmix-*'))

@pytest.mark.parametrize('case', ['unknown flag', 'mixed channels', 'alpha 0'])
def test_bad_input_from_the_command_one_line_exit_2(tmp_path, case):
    out = tmp_path/'out'
    if case == 'unknown flag': args, want = ['--mixupp', 1], 'unrecognized arguments: --mixupp'
    else:
        kw, want = bad_case(case, tmp_path)
        args = [a for k, v in kw.items() for a in (f"--{k.replace('_', '-')}", v)]
    r = fastmix(*args, '--out', out, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    err = [l for l in r.stderr.splitlines() if l.strip()]
    assert want in err[-1], err
    if case != 'unknown flag': assert len(err) == 1 and err[0].startswith('fastmix: error: '), r.stderr
    assert not out.exists()
