# Sphinx configuration of the documentation site that `bash tools/docs.sh` builds into _docs/ (the pages are
# nbdev's processed notebooks, translated by tools/docs.py; where Quarto exists, `nbdev-docs` builds nbdev's
# usual site from the same notebooks with nbs/_quarto.yml and nbs/sidebar.yml instead).
import re
from pathlib import Path

_root = Path(__file__).resolve().parents[1]
project = 'fastmix'
author = 'fastmix developers'
release = version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", (_root/'fastmix'/'__init__.py').read_text())[1]
copyright = 'the fastmix developers'

extensions = ['myst_nb']
nb_execution_mode = 'off'               # the notebooks ran when nbdev processed them: their outputs are the docs
nb_merge_streams = True
myst_enable_extensions = ['attrs_inline', 'colon_fence']
myst_all_links_external = True          # tools/docs.py has already pointed every link at a page of this site
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type']

html_theme = 'furo'
html_title = f'fastmix {release}'
html_static_path = ['_static']
html_css_files = ['fastmix.css']
html_favicon = '_static/favicon.svg'
html_show_sourcelink = False            # Sphinx's "show source" would link the converted notebooks, not the code
html_copy_source = False
exclude_patterns = ['_build', 'jupyter_execute']
