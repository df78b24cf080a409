#!/usr/bin/env bash
# The README's first command: set up .venv on a fresh clone (as tools/test.sh does), then run the
# `fastmix` comparison with the given flags (none: no mixing vs MixUp vs CutMix vs FMix on digits).
set -uo pipefail
source "$(dirname "$0")/setup.sh"
exec fastmix "$@"
