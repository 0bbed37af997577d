#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit tests and black-box tests against the real binary),
# then the official Python SDK and consumer library against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins
cargo test --workspace

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian splits venv support into its own package.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        else
            echo "python3 -m venv failed; install python3-venv" >&2
            exit 1
        fi
    fi
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt

CAIRN_BIN="$PWD/target/debug/cairn" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider "$@"
