#!/usr/bin/env bash
# HTCondor job wrapper of the condor-transfer profile (no shared filesystem).
#
# Runs in the job's sandbox on the execute node. HTCondor has transferred the
# Snakefile, workflow/, config/, the analysis package (src/topxsec), the
# cached job table (results/.jobs) and the job's inputs, with their relative
# paths; the outputs listed in the submit description are sent back on exit.
# The Python environment is, in this order:
#   - $TOPXSEC_ACTIVATE: a script to source, e.g. a conda environment or an
#     LCG view on CVMFS that has the dependencies of pyproject.toml;
#   - the container image's python3 (universe = container);
#   - python3 on the node's PATH.
# Arguments: Snakemake's, after `python -m snakemake`.
set -euo pipefail

if [ -n "${TOPXSEC_ACTIVATE:-}" ]; then
    # shellcheck disable=SC1090
    . "$TOPXSEC_ACTIVATE"
fi
python=${TOPXSEC_PYTHON:-python3}

# The transferred package comes first; numba compiles into the sandbox when
# the job brings no cache of its own (a job without a usable cache compiles
# its kernel and still succeeds).
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$PWD/numba_cache}
export CONDOR_CONFIG=${CONDOR_CONFIG:-/dev/null}

echo "job.sh: $(hostname), $("$python" --version 2>&1), sandbox $PWD" >&2
exec "$python" -m snakemake "$@"
