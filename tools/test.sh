#!/usr/bin/env bash
# Every test of fastmix, from a fresh clone: creates (or reuses) the virtual environment .venv,
# installs fastmix with its dev extras (again only when pyproject.toml changed), then runs pytest
# (tests/) and every notebook through nbdev-test. Extra arguments go to pytest.
set -uo pipefail
source "$(dirname "$0")/setup.sh"

echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
py=$?
if [ $py -eq 5 ]; then echo "== pytest collected no tests: that is a failure here"; py=1; fi

echo "== notebooks (nbdev-test)"
nbdev-test --n-workers 2
nb=$?

if [ $py -ne 0 ] || [ $nb -ne 0 ]; then echo "== FAILED (pytest: $py, notebooks: $nb)"; exit 1; fi
echo "== all tests passed"
