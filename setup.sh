#!/usr/bin/env bash
# Set up the workflow on a fresh machine: a virtual environment .venv with the
# analysis package and its dependencies, and the batch profiles installed
# where `snakemake --profile NAME` finds them.
#
#   bash setup.sh          # run-time dependencies
#   bash setup.sh --test   # plus the test dependencies (pytest, cabinetry, ...)
#   bash setup.sh --bench  # plus coffea, for benchmarks/run.py's comparison
#
# Then `. .venv/bin/activate`. PYTHON=python3.12 bash setup.sh picks the
# interpreter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

case "${1:-}" in
    "") extras="" ;;
    --test) extras="[test]" ;;
    --bench) extras="[bench]" ;;
    *) echo "usage: bash setup.sh [--test | --bench]" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras}"

# Profiles: link profiles/NAME to ~/.config/snakemake/NAME, unless the user
# already has a profile of that name of their own.
config_home=${XDG_CONFIG_HOME:-$HOME/.config}/snakemake
mkdir -p "$config_home"
for profile in profiles/*/; do
    name=$(basename "$profile")
    [ "$name" = default ] && continue   # applied implicitly as workflow profile
    target="$config_home/$name"
    if [ -L "$target" ] || [ ! -e "$target" ]; then
        ln -sfn "$PWD/profiles/$name" "$target"
        echo "setup.sh: profile '$name' is $target -> $PWD/profiles/$name"
    else
        echo "setup.sh: $target exists and is not ours; left alone" >&2
    fi
done

# Without an HTCondor pool (a laptop), the HTCondor bindings that the condor
# executor plugin loads warn on every snakemake call; point them at an empty
# config there. A machine with HTCondor installed keeps its own config.
activate=.venv/bin/activate
if ! grep -q "CONDOR_CONFIG" "$activate"; then
    cat >> "$activate" <<'SH'
# added by setup.sh: silence the HTCondor bindings where no pool is configured
if [ -z "${CONDOR_CONFIG:-}" ] && [ ! -e /etc/condor/condor_config ] \
    && [ ! -e /usr/local/etc/condor_config ]; then
    export CONDOR_CONFIG=/dev/null
fi
SH
fi
echo "setup.sh: ready; activate with: . .venv/bin/activate"
