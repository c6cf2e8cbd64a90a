#!/usr/bin/env bash
# `make test-slurm`: start a local Slurm (tests/slurm/local_slurm.sh; installs slurm-wlm + munge
# with apt-get if missing), run tests/slurm/test_slurm.py against it, and stop it again --
# whatever happens (test failure, timeout, Ctrl-C). Needs root.
#
#   tests/slurm/run.sh [PYTHON] [PYTEST ARGS...]     (PYTHON default: .venv/bin/python)
#
# PDESURROGATE_SLURM_TIMEOUT: seconds for the whole pytest run (default 1200), after which it is
# killed and the cluster stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-.venv/bin/python}
[ $# -gt 0 ] && shift
T0=$SECONDS

tests/slurm/local_slurm.sh stop >/dev/null 2>&1 || true  # leftovers of an earlier, killed run
tests/slurm/local_slurm.sh start
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  tests/slurm/local_slurm.sh stop || true
  echo "[test-slurm] done in $((SECONDS - T0)) s (exit $rc)" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PDESURROGATE_TEST_SLURM=1 timeout -k 30 "${PDESURROGATE_SLURM_TIMEOUT:-1200}" \
  "$PY" -m pytest -q -s -m slurm -p no:cacheprovider \
  -rA tests/slurm "$@"
