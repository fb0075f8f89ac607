#!/bin/sh
# Installs Cloudlet from its wheel into a virtualenv on the host it runs on: the one list of install steps
# that `cloudlet host add` runs over SSH and the ansible `common` role runs as a task.
#
#   install_agent.sh [--wheelhouse DIR] [--index-url URL] WHEEL VENV
#
# --wheelhouse DIR installs the dependencies from DIR's wheels alone (an offline site); --index-url URL takes
# them from that index (a mirror) instead of the host's pip configuration. Progress goes to stdout, errors to
# stderr; the exit status tells the caller what went wrong: 2 usage, 3 no way to make a virtualenv, 4 pip.
set -eu

usage() {
    echo "usage: install_agent.sh [--wheelhouse DIR] [--index-url URL] WHEEL VENV" >&2
    exit 2
}

wheelhouse=""
index_url=""
while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) [ $# -ge 2 ] || usage; wheelhouse=$2; shift 2 ;;
        --index-url) [ $# -ge 2 ] || usage; index_url=$2; shift 2 ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || usage
wheel=$1
venv=$2

# The wheel's file name carries its version: a virtualenv that has it already is left as it is.
version=$(basename "$wheel" -py3-none-any.whl)
version=${version#cloudlet-}
if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("cloudlet"))' 2>/dev/null)" = "$version" ]; then
    echo "cloudlet $version is already installed in $venv"
    exit 0
fi

# A virtualenv without pip is what `python3 -m venv` leaves when python3-venv is missing: made again.
if [ ! -x "$venv/bin/pip" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "the host has no python3: install the python3 and python3-venv packages (apt-get install python3-venv)" >&2
        exit 3
    fi
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        echo "the host's python3 cannot make a virtualenv: install the python3-venv package (apt-get install python3-venv)" >&2
        exit 3
    fi
    echo "creating the virtualenv $venv"
    python3 -m venv --clear "$venv"
fi

echo "installing $(basename "$wheel") into $venv"
set -- --disable-pip-version-check --no-input
if [ -n "$wheelhouse" ]; then
    set -- "$@" --no-index --find-links "$wheelhouse"
fi
if [ -n "$index_url" ]; then
    set -- "$@" --index-url "$index_url"
fi
log=$(mktemp)
if ! "$venv/bin/pip" install "$@" "$wheel" >"$log" 2>&1; then
    tail -n 15 "$log" >&2
    rm -f "$log"
    exit 4
fi
rm -f "$log"
echo "installed cloudlet $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("cloudlet"))')"
