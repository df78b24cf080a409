"""Render `nbs/index.ipynb` into `README.md` (nbdev's own `nbdev-readme` needs Quarto).

    python tools/readme.py          # write README.md
    python tools/readme.py --check  # exit 1 if README.md differs from the notebook

Markdown cells are copied, code cells become ```python blocks with their text outputs after them;
cells marked `#| hide` and stderr output are left out, and nbdev's `#|` directive lines are dropped.
Image links relative to the notebook (`images/…`) are made relative to the repository's root. Standard library only.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n'

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _text_outputs(cell):
    for o in cell.get('outputs', []):
        if o['output_type'] == 'stream':
            if o.get('name') == 'stdout': yield ''.join(o['text'])     # warnings on stderr are not docs
        elif 'text/plain' in o.get('data', {}) and not any(k.startswith('image/') for k in o['data']):
            yield ''.join(o['data']['text/plain'])

def render(nb_path=NB)->str:
    "The README text for the notebook at `nb_path`"
    parts = []
    for cell in json.loads(Path(nb_path).read_text())['cells']:
        lines = _src(cell).splitlines()
        directives = [l.strip() for l in lines if l.startswith('#|')]
        if any(d.replace(' ', '') == '#|hide' for d in directives): continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
        if cell['cell_type'] == 'markdown': parts.append(body.replace('](images/', '](nbs/images/'))
        elif cell['cell_type'] == 'code' and body:
            parts.append(f'```python\n{body}\n```')
            parts += [f'```\n{t.rstrip()}\n```' for t in _text_outputs(cell)]
    return HEADER + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    want = render()
    if '--check' in sys.argv[1:]:
        if README.read_text() != want: sys.exit('README.md differs from nbs/index.ipynb: run `python tools/readme.py`')
    else: README.write_text(want)
