"The project keeps its promises: README matches the index notebook, the package matches the notebooks."
import shutil, subprocess, sys, importlib.util
import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _readme_tool():
    spec = importlib.util.spec_from_file_location('readme_tool', ROOT/'tools'/'readme.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def test_readme_matches_index_notebook():
    assert (ROOT/'README.md').read_text() == _readme_tool().render(), \
        "README.md differs from nbs/index.ipynb: run `python tools/readme.py`"

def test_readme_renderer_drops_hidden_cells_and_directives(tmp_path):
    import json
    cells = [dict(cell_type='markdown', source='# T\n> s', metadata={}),
             dict(cell_type='code', source='#| hide\nsecret()', metadata={}, outputs=[]),
             dict(cell_type='code', source='#| eval: false\nshown()', metadata={},
                  outputs=[dict(output_type='stream', name='stdout', text='out\n')])]
    nb = tmp_path/'i.ipynb'; nb.write_text(json.dumps(dict(cells=cells)))
    txt = _readme_tool().render(nb)
    assert 'secret' not in txt and '#|' not in txt
    assert '# T\n> s\n\n```python\nshown()\n```\n\n```\nout\n```\n' in txt

def test_ci_runs_the_readme_test_command():
    cmd = 'bash tools/test.sh'
    assert cmd in (ROOT/'README.md').read_text() and cmd in (ROOT/'.ci'/'run').read_text()

def test_package_matches_notebooks(tmp_path):
    "nbdev-export on a copy of the notebooks reproduces fastmix/ exactly"
    for p in ('nbs', 'fastmix'): shutil.copytree(ROOT/p, tmp_path/p, ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(ROOT/'pyproject.toml', tmp_path)
    exe = Path(sys.executable).parent/'nbdev-export'
    subprocess.run([str(exe) if exe.exists() else 'nbdev-export'], cwd=tmp_path, check=True, capture_output=True)
    for f in sorted((ROOT/'fastmix').glob('*.py')):
        assert (tmp_path/'fastmix'/f.name).read_text() == f.read_text(), f"{f.name} is not what its notebook exports"

def test_readme_pictures_exist_and_are_drawn_by_the_documented_command(tmp_path):
    "Every image the README shows is in the repo, and `python tools/pictures.py` draws them"
    import re
    readme = (ROOT/'README.md').read_text()
    links = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', readme)
    assert links and all((ROOT/l).is_file() for l in links), links
    assert 'python tools/pictures.py' in readme
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'pictures.py'), '--out', str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.glob('*.png')) == sorted(Path(l).name for l in links)
    assert all(p.stat().st_size > 10_000 for p in tmp_path.glob('*.png'))

def test_mixing_layer_imports_no_fastai():
    "`fastmix.masks` and `fastmix.mixing` are plain PyTorch: any training loop can use them without fastai"
    code = "import sys, fastmix.mixing; bad = [m for m in sys.modules if m == 'fastai' or m.startswith('fastai.')]; print(bad)"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert r.stdout.strip() == '[]', r.stdout

def test_no_private_name_crosses_a_module():
    "A leading underscore means 'this file only': no fastmix module imports, or reads through a module, another's private name"
    import ast
    bad = []
    for f in sorted((ROOT/'fastmix').glob('*.py')):
        if f.name == '_modidx.py': continue
        tree, mods = ast.parse(f.read_text()), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('fastmix')):
                if node.module in (None, 'fastmix'): mods |= {a.asname or a.name for a in node.names}
                bad += [f"{f.name}: {a.name}" for a in node.names if a.name.startswith('_') and not a.name.startswith('__')]
        bad += [f"{f.name}: {n.value.id}.{n.attr}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name) and n.value.id in mods and n.attr.startswith('_') and not n.attr.startswith('__')]
    assert not bad, bad

def test_modules_import_only_the_layers_above_them():
    """The module table is the layering: each fastmix module imports (at its top or inside a function) only modules listed above it.
    One exception, by name: a module's `__getattr__` may import the module a deprecated name moved to, to hand it over with its warning"""
    import ast, re
    order = re.findall(r"^\| `fastmix\.(\w+)` \|", page('developing.ipynb'), flags=re.M)
    mods = sorted(f.stem for f in (ROOT/'fastmix').glob('*.py') if not f.stem.startswith('_'))
    assert sorted(order) == mods, (order, mods)                      # the table names every module, once
    bad = []
    for m in order:
        tree = ast.parse((ROOT/'fastmix'/f'{m}.py').read_text())
        shims = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == '__getattr__' for n in ast.walk(f)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or id(node) in shims: continue
            name = node.module or ''
            if node.level: used = [name] if name else [a.name for a in node.names]
            elif name.startswith('fastmix.'): used = [name.split('.')[1]]
            elif name == 'fastmix': used = [a.name for a in node.names]
            else: continue
            bad += [f"{m} imports {u}" for u in used if u in order and order.index(u) >= order.index(m)]
    assert not bad, bad


def page(nb:str)->str:
    "A notebook's text, its Markdown and code cells joined"
    import json
    return '\n'.join(''.join(c['source']) for c in json.loads((ROOT/'nbs'/nb).read_text())['cells'])

def test_setup_puts_an_absolute_venv_on_path():
    "The third week's item 15: FASTMIX_VENV as an absolute path puts that venv's bin first on PATH (not $PWD//abs/bin)"
    import os, subprocess, sys
    root = Path(__file__).resolve().parents[1]
    venv = Path(sys.prefix)                                       # the venv running the tests: set up already, nothing to install
    if not (venv/'.fastmix-installed').exists(): pytest.skip("the tests do not run in a venv made by tools/setup.sh")
    env = dict(os.environ, FASTMIX_VENV=str(venv), FASTMIX_NO_CHROMIUM='1')
    r = subprocess.run(['bash', '-c', 'source tools/setup.sh >/dev/null && echo "$PATH" && command -v python'],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    path, python = r.stdout.split()[:2]
    assert path.split(':')[0] == str(venv/'bin') and python == str(venv/'bin'/'python'), r.stdout + r.stderr

def test_batch_kinds_table_is_true():
    "The third week's item 13: the table of the inputs each method takes (the features page) is what the methods do (tabular and token ids included)"
    import re, torch
    from fastmix import methods as mixing
    text = page('features.ipynb')
    rows = [[c.strip() for c in l.strip().strip('|').split('|')] for l in text.splitlines() if l.strip().startswith('| ')]
    table = {r[0]: r[1:] for r in rows if r[0].startswith(('images', 'sequences', 'tabular', 'text'))}
    inputs = {'images': [torch.randn(8, 3, 12, 10)], 'sequences': [torch.randn(8, 2, 30), torch.randn(8, 1, 4, 6, 5)],
              'tabular': [torch.randn(8, 5)], 'text': [torch.randint(0, 9, (8, 20))]}
    cut = [mixing.CutMix, mixing.FMix, mixing.ResizeMix, mixing.SaliencyMix, mixing.GridMix, mixing.SmoothMix]
    def takes(cls, x):
        try: cls().mix((x,), (torch.arange(8),)); return True
        except (TypeError, ValueError): return False
    assert set(k.split()[0] for k in table) == set(inputs), table
    for row, cells in table.items():
        xs = inputs[row.split()[0]]
        assert cells[0].startswith('yes') == all(takes(mixing.MixUp, x) for x in xs), (row, 'MixUp')
        assert cells[1].startswith('yes') == all(takes(c, x) for c in cut for x in xs), (row, 'the cut methods')
        assert not cells[1].startswith('yes') or all(takes(c, x) for c in cut for x in xs)

def test_claims_of_the_third_week_are_gone():
    "Items 7 and 11: the pages no longer say 'three callbacks' or that the callbacks weigh the loss in after_loss; the callbacks page names every callback and explains the training figures"
    assert 'three callbacks' not in (ROOT/'README.md').read_text() and 'three callbacks' not in (ROOT/'pyproject.toml').read_text()
    assert 'never swap the loss function' not in page('tutorial.training.ipynb')
    cbs = page('02_callbacks.ipynb')
    summary = next(l for l in cbs.splitlines() if l.startswith('> '))
    assert all(f'`{n}`' in summary for n in ('MixUp', 'CutMix', 'FMix', 'GridMix', 'SmoothMix', 'SaliencyMix', 'ResizeMix', 'OneOfMix'))
    assert '## What the training figures mean under mixing' in cbs and '`train_loss` is the mixed loss' in cbs
