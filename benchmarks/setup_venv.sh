#!/bin/sh
# Benchmark-only tools in benchmarks/.venv (git-ignored, never a test dependency):
# ansible-core (the `ansible all -m setup` comparison in bench_status.py) and py-spy (profiling).
# `setup_venv.sh typer028` also makes benchmarks/.venv/typer028: this Python's packages plus
# typer 0.28 (the last without pydantic), for bench_*.py --alt-python to price that pin.
# Idempotent: re-running only installs what is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'ansible-core>=2.16' 'py-spy>=0.3'
"$venv/bin/ansible" --version | sed -n 1p
"$venv/bin/py-spy" --version
if [ "${1:-}" = typer028 ]; then
  alt="$venv/typer028"
  [ -x "$alt/bin/python" ] || "$python" -m venv --system-site-packages "$alt"
  "$alt/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps 'typer==0.28.0'
  echo "$alt/bin/python: typer $("$alt/bin/python" -c 'import typer; print(typer.__version__)')"
fi
