#!/usr/bin/env bash
# The project's test command: set up (idempotent), then run every test. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
exec python -m pytest "$@"
