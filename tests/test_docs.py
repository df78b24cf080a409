"The documentation site: nbdev's documentation pass runs on every notebook, `bash tools/docs.sh` builds _docs/, and every page of it is loaded in headless Chromium (skipped, saying why, where Chromium or Playwright is missing)."
import functools, http.server, re, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
PAST_THE_EDGE = """() => { const art = document.querySelector('article'); if (!art) return [];
  const edge = art.getBoundingClientRect().right + 8, bad = [];
  const scrolls = el => { for (let p = el; p && p !== art; p = p.parentElement) if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true; return false; };
  for (const el of art.querySelectorAll('pre, code, table, img, .highlight'))
    if (el.getBoundingClientRect().right > edge && !scrolls(el)) bad.push(el.tagName + ': ' + el.textContent.slice(0, 40));
  return bad; }"""        # content wider than the text column must scroll inside it (the third week's item 14)
HIDDEN = ('test_fail(', 'test_eq(', 'test_close(', '#| hide', '#|')      # what only hidden cells hold

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site, built once by the command the README gives: (its folder, what the build printed)"
    out = tmp_path_factory.mktemp('docs')/'_docs'
    r = subprocess.run(['bash', str(ROOT/'tools'/'docs.sh'), str(out)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    return out, log

def notebooks(): return sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb'))

def test_nbdev_docs_pass_and_build_are_clean(site):
    "nbdev's pass processes every notebook with no 'imports and other code' warning, and Sphinx warns of nothing"
    out, log = site
    assert 'imports and other code' not in log, log[-3000:]
    assert 'WARNING' not in log and 'ERROR' not in log, log[-3000:]
    assert re.search(rf"docs: {len(notebooks())} notebook pages written", log), log[-2000:]
    assert (out/'index.html').exists() and (out/'search.html').exists() and (out/'searchindex.js').exists()

def test_every_notebook_is_a_page_in_the_sidebars_order(site):
    "Each notebook is a page, and the navigation lists them in nbs/sidebar.yml's order: home, tutorials, then the reference in a user's order (callbacks first, the mask maths after)"
    sys.path.insert(0, str(ROOT/'tools'))
    import docs
    order = [f for _, f in docs.reading_order(ROOT/'nbs'/'sidebar.yml')]
    assert sorted(order) == notebooks()
    out = site[0]
    home = (out/'index.html').read_text()
    nav = re.findall(r'class="reference internal" href="([\w.]+)\.html"', home.split('sidebar-tree')[1].split('</nav>')[0])
    assert len([n for n in nav if not n.startswith('source')]) == len(order) - 1 + 1      # every page but home, and the benchmarks
    pages = {p.stem for p in out.glob('*.html')}
    assert {'masks', 'mixing', 'callbacks', 'comparison', 'tutorial.classification', 'benchmarks'} <= pages, pages
    assert nav.index('tutorial.classification') < nav.index('callbacks') < nav.index('show') < nav.index('mixing') < nav.index('methods') \
        < nav.index('manifold') < nav.index('masks'), nav

def test_api_reference_has_signatures_documented_arguments_and_source_links(site):
    out = site[0]
    page = (out/'masks.html').read_text()
    assert 'id="sample-lam"' in page                                                        # show_doc's heading, an anchor
    assert re.search(r'<span class="k">def</span>(<span class="w"> </span>)?<span class="nf">sample_lam</span>', page)   # its signature
    assert '<span class="c1"># how many λ to draw</span>' in page                          # with each argument's docments
    link = re.search(r'class="source-link[^"]*" href="source/masks.html#(L-\d+)"', page)
    assert link and f'id="{link[1]}"' in (out/'source'/'masks.html').read_text()

def test_entries_in_source_order_and_code_pointers_are_links(site):
    "The third week's item 14: a page's API entries come in the order the module defines them (nbdev inserts them last first), and pointers written as code link to their pages"
    out = site[0]
    page = (out/'callbacks.html').read_text()
    heads = [page.index(f'id="{k}"') for k in ('mixup', 'cutmix', 'fmix', 'gridmix', 'smoothmix', 'saliencymix', 'resizemix', 'oneofmix')]
    assert heads == sorted(heads)
    home = (out/'index.html').read_text()
    assert re.search(r'<a class="reference \w+" href="tutorial.plain_loop.html"><code[^>]*><span class="pre">nbs/tutorial.plain_loop.ipynb', home)
    assert re.search(r'href="benchmarks.html"><code[^>]*><span class="pre">benchmarks/README.md', home)

def _ids(path:Path, cache={})->set:
    if path not in cache: cache[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(errors='replace')))
    return cache[path]

@pytest.fixture(scope='module')
def browser():
    if CHROMIUM is None: pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; tools/setup.sh does it where it can)")
    try: from playwright.sync_api import sync_playwright
    except ImportError: pytest.skip("Playwright is not installed (it is in fastmix's dev extra)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                              '--disable-background-networking', '--disable-component-update', '--disable-sync'])
        yield b
        b.close()

def test_every_page_loads_in_chromium_with_its_images_and_links(site, browser):
    "Every page: loads, no console error or failed request, every image decoded, every internal link and anchor resolves, no hidden test code"
    out = site[0]
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(out))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{srv.server_port}/'
    problems, n_links, n_images = [], 0, 0
    try:
        page = browser.new_page()
        errors = []
        page.on('console', lambda m: m.type == 'error' and errors.append(m.text))
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.on('response', lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
        for html in sorted(out.rglob('*.html')):
            rel = html.relative_to(out).as_posix()
            errors.clear()
            resp = page.goto(base + rel, wait_until='load')
            if resp is None or resp.status != 200: problems.append(f"{rel}: status {resp and resp.status}"); continue
            imgs = page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])")
            n_images += len(imgs)
            problems += [f"{rel}: image {src} did not load" for src, w in imgs if not w]
            problems += [f"{rel}: runs past the right edge: {w}" for w in page.evaluate(PAST_THE_EDGE)]
            text = page.evaluate("document.body.innerText")
            problems += [f"{rel}: shows {h!r}" for h in HIDDEN if h in text]
            for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
                u = urlsplit(href)
                if not href.startswith(base): continue                  # external: not this site's to check
                n_links += 1
                target = out/unquote(u.path[1:] or 'index.html')
                if target.is_dir(): target = target/'index.html'
                if not target.exists(): problems.append(f"{rel}: link to missing {u.path}")
                elif u.fragment and target.suffix == '.html' and unquote(u.fragment) not in _ids(target):
                    problems.append(f"{rel}: link to missing anchor {u.path}#{u.fragment}")
            problems += [f"{rel}: {e}" for e in errors]
        page.close()
    finally: srv.shutdown()
    assert not problems, '\n'.join(sorted(set(problems))[:40])
    assert n_links > 500 and n_images > 20, (n_links, n_images)
