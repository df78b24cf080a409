"""The documentation site's sources, made from nbdev's processed notebooks (what `nbdev-proc-nbs` writes to `_proc/`,
and what Quarto would render): `python tools/docs.py PROC SRC` writes one page per notebook into SRC, in the
reading order of `nbs/sidebar.yml`, for Sphinx with myst-nb (configured in `docs/conf.py`; `tools/docs.sh` runs
all of it). nbdev writes its pages for Quarto, so this is the small translation Sphinx needs:

- the front matter (title, description) becomes the page's heading and summary;
- each `show_doc` cell (`#| echo: false`, `#| output: asis`) becomes the Markdown it rendered, so its heading is
  a section with an anchor and its argument table a table, in the order the cell above defines them;
- nbdev's links (`/masks.html#sample_lam`, `/blob/main/fastmix/masks.py#L24`, `06b_comparison.ipynb`,
  `../benchmarks/README.md`) point at this site's pages, anchors, source listings and benchmarks page, and so do
  pointers written as code (`nbs/tutorial.training.ipynb`, `benchmarks/README.md`) outside code blocks;
- cell directives (`#| ...`) are dropped from the code shown.
"""
import json, re, shutil, sys
from pathlib import Path
import yaml
from docutils.nodes import make_id
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

ROOT = Path(__file__).resolve().parents[1]

def front_matter(nb:dict)->dict:
    "The YAML front matter nbdev put in the notebook's first (raw) cell, or {}"
    c = nb['cells'][0] if nb['cells'] else None
    if c is None or c['cell_type'] != 'raw': return {}
    text = ''.join(c['source']).strip()
    return yaml.safe_load(text.strip('-')) or {} if text.startswith('---') else {}

def page_name(proc_file:Path)->str:
    "The page a processed notebook becomes: its Quarto output file without .html (00_masks.ipynb -> masks)"
    out = front_matter(json.loads(proc_file.read_text())).get('output-file')
    return out[:-len('.html')] if out else proc_file.stem

def reading_order(sidebar:Path)->list:
    "[(section or None, notebook file name)] from nbdev's sidebar.yml"
    def walk(items, section):
        for it in items:
            if isinstance(it, str): yield section, Path(it).name
            else: yield from walk(it.get('contents', []), it.get('section'))
    return list(walk(yaml.safe_load(sidebar.read_text())['website']['sidebar']['contents'], None))

def _anchor(frag:str|None)->str: return '' if not frag else '#' + make_id(frag.lstrip('#'))

def rewrite_links(text:str, pages:dict)->str:
    "nbdev's and the notebooks' links, pointed at this site's pages (`pages`: notebook file -> page name)"
    names = set(pages.values())
    text = re.sub(r'\]\(/blob/[^/)]+/fastmix/(\w+)\.py(?:#L(\d+)|#L\w*)?\)',      # (nbdev writes #LNone where it found no line)
                  lambda m: f"](source/{m[1]}.html{'#L-' + m[2] if m[2] else ''})", text)
    text = re.sub(r'\]\(/([\w.]+)\.html(#[^)\s]*)?\)', lambda m: f"]({m[1]}.html{_anchor(m[2])})" if m[1] in names else m[0], text)
    text = re.sub(r'\]\((?:\.\./)?benchmarks/README\.md(#[^)\s]*)?\)', lambda m: f"](benchmarks.html{_anchor(m[1])})", text)
    text = re.sub(r'\]\(([\w.]+\.ipynb)(#[^)\s]*)?\)', lambda m: f"]({pages[m[1]]}.html{_anchor(m[2])})" if m[1] in pages else m[0], text)
    text = _outside_fences(text, lambda t: _code_pointers(t, pages))
    return re.sub(r'\{target="_blank" style="[^"]*"\}', '{.source-link}', text)

def _code_pointers(text:str, pages:dict)->str:
    "Pointers written as code (`nbs/tutorial.training.ipynb`, `benchmarks/README.md`) made links to their pages"
    text = re.sub(r'(?<![\[`])`(?:nbs/)?([\w.]+\.ipynb)`(?![`\]])', lambda m: f"[{m[0]}]({pages[m[1]]}.html)" if m[1] in pages else m[0], text)
    return re.sub(r'(?<![\[`])`(?:\.\./)?benchmarks/README\.md`(?![`\]])', lambda m: f"[{m[0]}](benchmarks.html)", text)

def _outside_fences(text:str, f)->str:
    "`f` applied to the Markdown `text` outside its fenced code blocks"
    parts = re.split(r'(^```.*?^```[^\n]*$)', text, flags=re.M | re.S)
    return ''.join(p if i % 2 else f(p) for i, p in enumerate(parts))

def _lines(s:str)->list:
    ls = s.split('\n')
    return [l + '\n' for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])

def _md(text:str)->dict: return dict(cell_type='markdown', metadata={}, source=_lines(text))

def _rendered(cell:dict)->str:
    "The Markdown a `show_doc` cell rendered, without its leading rule"
    for o in cell.get('outputs', []):
        md = o.get('data', {}).get('text/markdown')
        if md is not None:
            text = ''.join(md) if isinstance(md, list) else md
            return re.sub(r'\A\s*---\s*\n', '', text)
    return ''

def _doc_name(cell:dict)->str|None:
    "The symbol a `show_doc` cell documents"
    m = re.search(r'^show_doc\(([\w.]+)', ''.join(cell['source']), re.M) if cell['cell_type'] == 'code' else None
    return m and m[1].split('.')[-1]

def definition_order()->dict:
    "Each of fastmix's public names -> (its module, the line that defines it), for putting show_doc cells in source order"
    import importlib, inspect, pkgutil, fastmix
    where = {}
    for m in pkgutil.iter_modules(fastmix.__path__):
        if m.name.startswith('_'): continue
        mod = importlib.import_module(f'fastmix.{m.name}')
        for k in getattr(mod, '__all__', []):
            obj = getattr(mod, k, None)
            try:
                if getattr(obj, '__module__', None) == mod.__name__: where.setdefault(k, (m.name, inspect.getsourcelines(obj)[1]))
            except (TypeError, OSError): pass
    return where

def in_source_order(cells:list, where:dict)->list:
    "The cells with each run of consecutive `show_doc` cells in the order their symbols are defined (`where`; nbdev inserts a cell's symbols last first)"
    out, i = [], 0
    while i < len(cells):
        j = i
        while j < len(cells) and _doc_name(cells[j]): j += 1
        if j > i:
            out += sorted(cells[i:j], key=lambda c: where.get(_doc_name(c), ('~', 0))); i = j
        else: out.append(cells[i]); i += 1
    return out

def convert(nb:dict, pages:dict, where:dict=None)->dict:
    "A processed notebook as a page for myst-nb (`where`: `definition_order()`)"
    fm, cells, where = front_matter(nb), [], where if where is not None else definition_order()
    if fm.get('title'): cells.append(_md(f"# {fm['title']}" + (f"\n\n> {fm['description']}" if fm.get('description') else '')))
    for c in in_source_order(nb['cells'][1 if fm else 0:], where):
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            if src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            cells.append(_md(rewrite_links(src, pages)))
        elif c['cell_type'] == 'code':
            if re.search(r'^#\|\s*echo:\s*false', src, re.M):          # show_doc: its output is the page's text
                text = _rendered(c)
                if text.strip(): cells.append(_md(rewrite_links(text, pages)))
                continue
            code = '\n'.join(l for l in src.split('\n') if not l.lstrip().startswith('#|')).strip('\n')
            if not code: continue
            outputs = []
            for o in c.get('outputs', []):
                if o.get('output_type') == 'stream' and o.get('name') == 'stderr': continue    # warnings: noise on a page
                if 'text/markdown' in o.get('data', {}):
                    md = o['data']['text/markdown']
                    o = {**o, 'data': {**o['data'], 'text/markdown': rewrite_links(''.join(md) if isinstance(md, list) else md, pages)}}
                outputs.append(o)
            cells.append({**c, 'metadata': {}, 'source': _lines(code), 'outputs': outputs})   # (execnb's timings are not nbformat's)
    return {**nb, 'cells': cells}

def source_page(py:Path)->str:
    "A page listing a module's source with an anchor per line (L-1, L-2, …), where the API reference's [source] links land"
    code = highlight(py.read_text(), PythonLexer(), HtmlFormatter(linenos='inline', lineanchors='L', anchorlinenos=True, wrapcode=True))
    return f"# fastmix/{py.name}\n\nThe source of `fastmix.{py.stem}`, exported from its notebook by nbdev.\n\n```{{raw}} html\n{code}\n```\n"

def toctree(caption:str|None, docs:list, hidden:bool=True)->str:
    opts = ':hidden:\n' if hidden else ''
    opts += f':caption: {caption}\n' if caption else ''
    return '```{toctree}\n' + opts + '\n' + '\n'.join(docs) + '\n```\n'

def build(proc:Path, src:Path):
    "Write the site's sources for the processed notebooks in `proc` into `src`"
    proc, src = Path(proc), Path(src)
    if src.exists(): shutil.rmtree(src)
    src.mkdir(parents=True)
    order = reading_order(ROOT/'nbs'/'sidebar.yml')
    files = {p.name: p for p in proc.glob('*.ipynb')}
    missing = sorted(set(files) - {f for _, f in order})
    if missing: raise SystemExit(f"docs: {', '.join(missing)} not in nbs/sidebar.yml: add them where they belong in the reading order")
    pages, where = {f: page_name(p) for f, p in files.items()}, definition_order()
    for f, p in files.items():
        (src/f"{pages[f]}.ipynb").write_text(json.dumps(convert(json.loads(p.read_text()), pages, where), indent=1))
    shutil.copytree(ROOT/'nbs'/'images', src/'images')
    bench = (ROOT/'benchmarks'/'README.md').read_text()
    (src/'benchmarks.md').write_text(bench)
    (src/'source').mkdir()
    mods = sorted(p for p in (ROOT/'fastmix').glob('*.py') if not p.name.startswith('_'))
    for py in mods: (src/'source'/f"{py.stem}.md").write_text(source_page(py))
    # the navigation: sections in sidebar.yml's order, then the benchmarks and the source, as hidden toctrees on the home page
    sections = {}
    for section, f in order:
        if f in files and pages[f] != 'index': sections.setdefault(section, []).append(pages[f])
    nav = [toctree(s, docs) for s, docs in sections.items()] + [toctree('Measured', ['benchmarks']),
                                                               toctree('Source', [f"source/{p.stem}" for p in mods])]
    home = json.loads((src/'index.ipynb').read_text())
    home['cells'].append(_md('\n'.join(nav)))
    (src/'index.ipynb').write_text(json.dumps(home, indent=1))
    return sorted(pages.values())

if __name__ == '__main__':
    if len(sys.argv) != 3: raise SystemExit(__doc__.split('\n\n')[0])
    print(f"docs: {len(build(*sys.argv[1:]))} notebook pages written to {sys.argv[2]}")
