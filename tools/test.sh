#!/usr/bin/env bash
# Every test of fastmix, from a fresh clone: creates (or reuses) the virtual environment .venv,
# installs fastmix with its dev extras (again only when pyproject.toml changed), then runs pytest
# (tests/) and every notebook through nbdev-test. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
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
export PATH="$PWD/$venv/bin:$PATH" MPLBACKEND=Agg PYTHONWARNINGS=ignore::FutureWarning

echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
py=$?
if [ $py -eq 5 ]; then echo "== pytest collected no tests: that is a failure here"; py=1; fi

echo "== notebooks (nbdev-test)"
nbdev-test --n-workers 2
nb=$?

if [ $py -ne 0 ] || [ $nb -ne 0 ]; then echo "== FAILED (pytest: $py, notebooks: $nb)"; exit 1; fi
echo "== all tests passed"
