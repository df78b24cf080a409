#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv (or $FASTMIX_VENV) and install fastmix into it with
# its dev extras, again only when pyproject.toml changed. Sourced by tools/test.sh and tools/fastmix.sh.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${FASTMIX_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the virtual environment $venv"
  python3 -m venv "$venv" || exit 1
fi
stamp="$venv/.fastmix-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing fastmix[dev] into $venv (fastai and torch: about 3 minutes the first time)"
  log=$(mktemp)
  if ! "$venv/bin/python" -m pip install -q -e ".[dev]" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log"; echo "== install failed"; exit 1
  fi
  echo "$want" >"$stamp"
fi
case "$venv" in /*) vbin="$venv/bin" ;; *) vbin="$PWD/$venv/bin" ;; esac   # FASTMIX_VENV may be absolute or relative
export PATH="$vbin:$PATH" MPLBACKEND=Agg PYTHONWARNINGS=ignore::FutureWarning
# Chromium for the docs site's browser test (tests/test_docs.py), from Debian's packages where this runs as root
# with apt-get (as on the project's machines and CI); elsewhere that test skips and says why. FASTMIX_NO_CHROMIUM=1: never.
if [ -z "${FASTMIX_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing Debian's chromium for the docs test (about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "== could not install chromium: the docs browser test will skip"
fi
