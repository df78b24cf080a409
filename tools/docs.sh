#!/usr/bin/env bash
# Build the documentation site into _docs/ (or the folder given): nbdev's documentation pass (nbdev-proc-nbs's
# work, on a copy of nbs/), tools/docs.py (one page per notebook), then Sphinx with myst-nb and the furo theme.
# Open _docs/index.html in a browser, or serve it: python -m http.server -d _docs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(realpath -m "${1:-_docs}")
source tools/setup.sh
if ! python -c 'import myst_nb, furo' 2>/dev/null; then
  echo "== installing the docs extra (pip install -e '.[docs]')"; python -m pip install -q -e '.[docs]' 2>&1 | grep -v '^WARNING: Location' || true
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
start=$SECONDS
cp -r nbs pyproject.toml "$work/"
echo "== nbdev's documentation pass"
(cd "$work" && python -c 'from nbdev.serve import proc_nbs; proc_nbs(n_workers=2)')   # nbdev-proc-nbs also tries to install Quarto
python tools/docs.py "$work/_proc" "$work/src"
echo "== sphinx-build"
rm -rf "$out"
python -m sphinx -q -b html -c docs -d "$work/doctrees" "$work/src" "$out"
echo "== built $(find "$out" -name '*.html' | wc -l) pages into $out in $((SECONDS - start)) s"
