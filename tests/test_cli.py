"The `fastmix` command end to end: a tiny slice of digits, a tiny image folder, and bad input (exit 2, one line, nothing written)."
import csv, json, os, re, subprocess, sys
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
    assert lines[0].startswith('fastmix: comparing none, MixUp(1), CutMix(1), FMix(1) on digits: 200 training')
    assert lines[0].endswith('label noise 0, 0.4')                           # the digits: clean and noisy labels
    assert 'at least' in lines[1] and 'x 2 label sets = 16 runs' in lines[1] # says how long it will take, at least
    table = r.stdout[r.stdout.index('\nclean labels\n') + 1:]
    for name in ('none', 'MixUp(1)', 'CutMix(1)', 'FMix(1)'): assert f'\n{name} ' in table
    noisy = table[table.index('40% of the training labels corrupted'):]
    assert 'memorised' in noisy.splitlines()[1] and 'memorised' not in table.splitlines()[1]
    with open(out/'results.csv') as f: rows = list(csv.DictReader(f))
    assert [row['setting'] for row in rows] == ['none', 'MixUp(1)', 'CutMix(1)', 'FMix(1)'] * 2
    assert [float(row['label_noise']) for row in rows] == [0.] * 4 + [.4] * 4
    assert all(0 <= float(row['memorised']) <= 1 and 0 <= float(row['train_acc']) <= 1 for row in rows[4:])
    assert all(0 <= float(row['valid_acc']) <= 1 and row['seeds'] == '2' for row in rows)
    for row in rows:                                                         # what mixing is for, beside accuracy
        assert float(row['valid_acc']) <= float(row['best_acc']) <= 1 and float(row['valid_nll']) > 0
        assert 0 <= float(row['valid_ece']) <= 1 and 0 <= float(row['occluded_acc']) <= 1
    res = json.loads((out/'results.json').read_text())
    assert res['args']['epochs'] == 1 and len(res['runs']['FMix(1)']) == 2 and len(res['runs']['FMix(1), noise 0.4']) == 2
    assert len(res['runs']['none'][0]['valid_acc_curve']) == 1
    assert {'best_epoch', 'valid_nll', 'valid_ece', 'occluded_acc'} <= set(res['runs']['none'][0])
    assert 'occluded' in table.splitlines()[1] and 'ECE' in table.splitlines()[1]
    names = sorted(p.name for p in out.iterdir())
    assert names == ['curves.png', 'mixed_cutmix_1.png', 'mixed_fmix_1.png', 'mixed_mixup_1.png', 'results.csv', 'results.json']
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
            'bad mix prob': (dict(mix_prob=2.), "--mix-prob must be in [0, 1], got 2.0"),
            'offline URLs': (dict(data='IMAGENETTE_160'), 'you seem to be offline'),
            'unknown name': (dict(data='NOT_A_DATASET'), "nor a data set in fastai's URLs")}[case]

CASES = ['missing folder', 'empty folder', 'no class folders', 'one class', 'epochs 0', 'alpha 0',
         'negative alpha', 'bad mode', 'bad mix prob', 'offline URLs', 'unknown name', 'out empty', 'out under a file']

@pytest.mark.parametrize('case', CASES)
def test_bad_input_named_and_nothing_written(tmp_path, case):
    from fastmix.cli import compare
    from fastmix.checks import BadInput
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
    from fastmix.cli import compare
    from fastmix.checks import BadInput
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
    assert sorted(p.name for p in out.iterdir()) == ['curves.png', 'mixed_fmix_1.png', 'results.csv', 'results.json']   # no checkpoints left
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
    assert 'fastmix: small model, 1 epoch x 1 seed x 2 settings x 2 label sets = 4 runs' in r.stdout

def test_occlusion_is_the_same_for_every_setting(tmp_path):
    "Every setting and seed is scored on the same occluded images: box i goes with validation item i"
    from fastmix.measures import evaluate, occlusion_masks
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

class SeesLabels:
    "A 'mixing callback' factory for `setting_fns` that records the labels each run trains and validates on, and trains unmixed"
    def __init__(self, seen): self.seen = seen
    def __call__(self):
        from fastai.callback.core import Callback
        seen = self.seen
        class Look(Callback):
            def before_fit(self): seen.append((self.dls.train_ds.y.clone(), self.dls.valid_ds.y.clone()))
        return Look()

def test_label_noise_share_per_seed_same_for_every_setting(tmp_path):
    "--label-noise corrupts exactly that share of the training labels, drawn once per seed; every setting of a seed sees the same labels; validation stays clean"
    from fastmix.cli import compare
    from fastmix.data import get_arrays
    seen_a, seen_b = [], []
    rows = compare(label_noise='0.3', setting_fns={'a': SeesLabels(seen_a), 'b': SeesLabels(seen_b)}, epochs=1, seeds=2,
                   limit=200, quiet=True, log=lambda *a: None)
    (xt, yt), (xv, yv), _ = get_arrays('digits', 16, 200)
    assert len(seen_a) == len(seen_b) == 2
    for (ta, va), (tb, vb) in zip(seen_a, seen_b):
        assert torch.equal(ta, tb)                                               # same seed: same corruption for every setting
        assert int((ta != yt).sum()) == 60 and torch.equal(va, yv)               # 30% of 200; validation untouched
    assert not torch.equal(seen_a[0][0], seen_a[1][0])                           # another seed, another corruption
    assert all(r['label_noise'] == .3 and 0 <= r['memorised'] <= 1 for r in rows)

def test_nll_and_ece_by_hand():
    "evaluate's NLL and 15-bin ECE against a hand computation on a model with fixed outputs"
    from fastmix.measures import evaluate
    from fastmix.data import tensor_dls
    from fastai.learner import Learner
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8); x[:, 0, 0, 0] = torch.arange(4, dtype=torch.uint8)
    y = torch.tensor([0, 1, 1, 0])
    logits = torch.tensor([[2., 0.], [1., 1.5], [0., 3.], [.2, 0.]])
    class Fixed(torch.nn.Module):                                               # item i (found by its first pixel) gets logits[i]
        def forward(self, xb): return logits[(xb[:, 0, 0, 0] * 0 + torch.arange(len(xb))).long()]
    dls = tensor_dls((x, y), (x, y), ['a', 'b'], bs=2, device='cpu', stats=([0.], [1.]))
    res = evaluate(Learner(dls, Fixed()))
    p = logits.softmax(1)
    nll = -sum(float(p[i, y[i]].log()) for i in range(4)) / 4
    conf, pred = p.max(1)
    bins = {}
    for c, right in zip(conf.tolist(), (pred == y).tolist()):
        bins.setdefault(min(14, int(np.ceil(c * 15)) - 1), []).append((c, right))
    ece = sum(abs(sum(r for _, r in b) - sum(c for c, _ in b)) for b in bins.values()) / 4
    assert abs(res['valid_nll'] - nll) < 1e-6 and abs(res['valid_ece'] - ece) < 1e-6

def test_cifar_layout_test_folder_is_validation(tmp_path):
    "fastai's CIFAR layout: train/ and test/ folders of class folders, test/ used for validation"
    from fastmix.cli import compare
    d = tmp_path/'cifar'
    for split, n in (('train', 6), ('test', 2)):
        image_folder(d/split, classes=('cat', 'dog', 'frog'), n=n)
    lines = []
    compare(data=d, mixup=1., epochs=1, seeds=1, bs=4, size=16, quiet=True, log=lines.append)
    assert ': 18 training and 6 validation images of 3x16x16, 3 classes' in lines[0], lines[0]

def test_budget_then_resume_gives_the_uninterrupted_results(tmp_path):
    "--budget stops after an epoch with a checkpoint; --resume goes on, and the results equal one uninterrupted run's"
    from fastmix.cli import compare
    from fastmix.comparison import Paused
    from fastmix.checks import BadInput
    kw = dict(fmix=1., label_noise='0', epochs=3, seeds=1, limit=128, quiet=True, log=lambda *a: None)
    whole = compare(out=tmp_path/'whole', **kw)
    with pytest.raises(Paused, match='0 of 2 runs done'):
        compare(out=tmp_path/'parts', budget=1e-9, **kw)                             # stops after the first epoch
    ck = tmp_path/'parts'/'checkpoints'
    assert (ck/'none_seed0.pth').exists() and not (tmp_path/'parts'/'results.json').exists()
    with pytest.raises(BadInput, match='other settings'):
        compare(out=tmp_path/'parts', resume=True, **{**kw, 'epochs': 4})
    with pytest.raises(Paused, match='0 of 2 runs done'):                           # one more epoch, from the checkpoint
        compare(out=tmp_path/'parts', resume=True, budget=1e-9, **kw)
    with pytest.raises(Paused, match='1 of 2 runs done'):                           # the last epoch: the first run is complete
        compare(out=tmp_path/'parts', resume=True, budget=1e-9, **kw)
    assert (ck/'none_seed0.json').exists() and not (ck/'none_seed0.pth').exists()
    parts = compare(out=tmp_path/'parts', resume=True, **kw)
    a = json.loads((tmp_path/'whole'/'results.json').read_text())['runs']
    b = json.loads((tmp_path/'parts'/'results.json').read_text())['runs']
    for name in a:
        for k in ('valid_acc_curve', 'train_loss_curve', 'valid_nll', 'occluded_acc'): assert a[name][0][k] == b[name][0][k], (name, k)
    assert [r['valid_acc'] for r in whole] == [r['valid_acc'] for r in parts]
    assert not ck.exists()                                                           # removed once the results are written

def test_preset_cifar10_recipe(tmp_path):
    "--preset cifar10: CIFAR ResNet-18, SGD with momentum and L2 weight decay, cosine to 0, crops and flips, the anchor's alphas"
    from fastmix.cli import compare
    from fastmix.comparison import make_learner
    from fastmix.comparison import _own_model
    from fastai.callback.core import Callback
    d = tmp_path/'cifar'
    for split, n in (('train', 8), ('test', 2)): image_folder(d/split, n=n, size=32)
    lrs, hyper = [], []
    class Lr(Callback):
        def after_batch(self): lrs.append(self.opt.hypers[0]['lr']); hyper.append(dict(self.opt.hypers[0]))
    lines = []
    rows = compare(preset='cifar10', data=d, arch='cifar_resnet18_w8', epochs=2, bs=4, setting_fns={'none': Lr},
                   quiet=True, log=lines.append, out=tmp_path/'o')
    args = json.loads((tmp_path/'o'/'results.json').read_text())['args']
    assert (args['opt'], args['schedule'], args['augment'], args['wd'], args['lr']) == ('sgd', 'cos', 4, 1e-4, .1)
    assert lrs[0] == pytest.approx(.1) and lrs[-1] < .1 * .1 and all(a >= b for a, b in zip(lrs, lrs[1:]))   # cosine down
    assert hyper[0]['mom'] == .9 and hyper[0]['wd'] == 1e-4 and type(rows) is list
    assert 'cifar_resnet18_w8 model' in lines[1] and ': 16 training and 4 validation images of 3x32x32' in lines[0]
    from fastmix.cli import resolve
    r = resolve(preset='cifar10')
    assert (r['mixup'], r['cutmix'], r['fmix'], r['epochs'], r['bs'], r['data']) == (1., .2, .2, 200, 100, 'CIFAR')
    r = resolve(preset='cifar10', fmix=1., epochs=5)                                   # given flags win; given methods replace the preset's
    assert (r['mixup'], r['cutmix'], r['fmix'], r['epochs'], r['arch']) == (None, None, 1., 5, 'cifar_resnet18')
    assert resolve()['data'] == 'digits' and resolve()['epochs'] == 15
    m = _own_model('cifar_resnet18', 3, 10)
    assert sum(p.numel() for p in m.parameters()) == 11_173_962

def test_progress_lines_reestimate_the_time_left(tmp_path):
    from fastmix.cli import compare
    lines = []
    compare(mixup=.4, epochs=1, seeds=1, limit=64, label_noise='0,0.4', quiet=True, log=lines.append)
    runs = [l for l in lines if l.startswith('fastmix: [')]
    assert len(runs) == 4 and 'left' not in runs[0], runs                          # nothing to go on before the first run
    assert all(re.search(r"\(about \d+ s left, from the runs so far\)$", l) for l in runs[1:]), runs
    assert "at least" in next(l for l in lines if ' runs; ' in l)

# --- a second week of use ------------------------------------------------------------------------------------------

def test_class_without_training_images_is_kept_and_named(tmp_path):
    "A class whose images are all in valid/ stays a class, its validation images counted, with a line saying why"
    from fastmix.cli import compare
    d = image_folder(tmp_path/'d', classes=('ants', 'bees', 'wasps'), n=6, layout='split')
    for f in (d/'train'/'wasps').iterdir(): f.unlink()
    lines = []
    compare(data=d, mixup=1., epochs=1, seeds=1, bs=4, size=16, quiet=True, log=lines.append)
    first = next(l for l in lines if l.startswith('fastmix: comparing'))
    assert ': 8 training and 6 validation images of 3x16x16, 3 classes' in first, first
    said = [l for l in lines if "class 'wasps' has no training images" in l]
    assert len(said) == 1 and 'train/wasps holds none' in said[0] and 'its 2 validation images count as wrong' in said[0]

def test_every_image_counted_in_the_random_split(tmp_path):
    "A class of one image, in a folder split 80/20: wherever the split puts it, every image and class is counted"
    from fastmix.cli import compare
    d = image_folder(tmp_path/'d', classes=('ants', 'bees', 'wasps'), n=8)
    for f in sorted((d/'wasps').iterdir())[1:]: f.unlink()
    lines = []
    compare(data=d, mixup=1., epochs=1, seeds=1, bs=4, size=16, quiet=True, log=lines.append)
    first = next(l for l in lines if l.startswith('fastmix: comparing'))
    tr, va = (int(first.split(' training and ')[0].split()[-1]), int(first.split(' training and ')[1].split()[0]))
    assert tr + va == 17 and first.endswith('3 classes'), first
    said = [l for l in lines if "class 'wasps' has no training images" in l]
    assert len(said) <= 1 and all('the 80/20 split put all 1 of its images in validation' in l for l in said)

def test_ctrl_c_prints_one_line_and_the_command_that_goes_on(tmp_path):
    import signal
    out = tmp_path/'run'
    args = ['--epochs', 40, '--seeds', 1, '--limit', 256, '--label-noise', 0, '--mixup', 1, '--out', out]
    env = dict(os.environ, PYTHONWARNINGS='ignore', MPLBACKEND='Agg')
    p = subprocess.Popen([str(EXE), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # a shell's background job ignores Ctrl-C
    for line in p.stdout:                   # a line per epoch (flushed); the checkpoint is written right after each
        if line.strip().startswith('epoch 2 '): break
    assert list((out/'checkpoints').glob('*.pth')), "a run in progress keeps a checkpoint"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err[-2000:]
    assert re.search(r"interrupted; kept in .*checkpoints: \d+ finished runs? and the run in progress up to epoch \d+", err), err
    again = err.strip().split('go on with: ')[1]
    assert again == ' '.join(['fastmix', *map(str, args), '--resume'])
    from fastmix.comparison import interrupted
    assert 'nothing was kept' in interrupted(None, [])

def test_resumed_run_prints_no_line_for_the_epochs_it_skips(tmp_path, capsys):
    from fastmix.cli import compare
    from fastmix.comparison import Paused
    kw = dict(mixup=1., label_noise='0', epochs=3, seeds=1, limit=128, log=lambda *a: None, out=tmp_path/'o')
    with pytest.raises(Paused): compare(budget=1e-9, **kw)                          # epoch 0 of the first run
    capsys.readouterr()
    compare(resume=True, **kw)
    printed = capsys.readouterr().out
    epochs = [int(m) for m in re.findall(r"^\s+epoch (\d+) ", printed, re.M)]
    assert epochs == [1, 2] + [0, 1, 2], printed                                  # the first run's epoch 0 is not printed again

def test_one_seed_shows_no_spread():
    from fastmix.comparison import summarise, format_table
    one = format_table(summarise({'none': [dict(valid_acc=.91, valid_loss=.3, s_per_epoch=1.)]}))
    two = format_table(summarise({'none': [dict(valid_acc=.91, valid_loss=.3, s_per_epoch=1.)] * 2}))
    assert '±' not in one and '0.9100 ± 0.0000' in two
    assert len(one.splitlines()[1]) == len(two.splitlines()[1])                    # the columns stay aligned

def test_nll_is_not_clipped():
    "A confidently wrong prediction counts in full: logits 100 apart give an NLL of 100, not ln(1e12)"
    from fastmix.measures import evaluate
    from fastmix.data import tensor_dls
    from fastai.learner import Learner
    x, y = torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1])
    class Wrong(torch.nn.Module):
        def forward(self, xb): return torch.tensor([[0., 100.], [100., 0.]])[:len(xb)]
    res = evaluate(Learner(tensor_dls((x, y), (x, y), ['a', 'b'], bs=2, device='cpu', stats=([0.], [1.])), Wrong()))
    assert res['valid_nll'] == pytest.approx(100., rel=1e-5)

def test_timm_spellings_and_cutmix_minmax():
    "The third week's item 12: timm's train.py spellings of the mixing flags are the command's too, and --cutmix-minmax reaches CutMix"
    from fastmix.cli import timm_argv, settings, compare
    from fastmix.checks import BadInput
    assert timm_argv(['--mixup-prob', '.5', '--mixup-switch-prob=.3', '--mixup-mode', 'batch', '--mixup-off-epoch', '4',
                      '--smoothing', '.1', '--cutmix-minmax', '.2', '.8', '--epochs', '1']) == \
        ['--mix-prob', '.5', '--switch-prob=.3', '--mode', 'batch', '--off-epoch', '4', '--label-smoothing', '.1',
         '--cutmix-minmax', '.2,.8', '--epochs', '1']
    cb = settings(cutmix=1., cutmix_minmax=(.2, .8))['CutMix(1)']()
    assert cb.minmax == (.2, .8)
    with pytest.raises(BadInput, match=r"--cutmix-minmax must be two shares of the side"):
        compare(data='digits', cutmix=1., cutmix_minmax='0.2', log=lambda *a: None)
    r = fastmix('--mixup-prob', 2)                                        # timm's spelling, checked in fastmix's words
    assert r.returncode == 2 and 'fastmix: error: --mix-prob must be in [0, 1], got 2' in r.stderr
    assert '--mixup-prob' in fastmix('--help').stdout and '--cutmix-minmax' in fastmix('--help').stdout
