#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit tests and black-box tests against the real binary),
# then the official clients against the real binary (tests/python): the classic Python SDK and
# its consumer library, the OpenAPI SDK, the `aliyunlog` CLI, the Node SDKs, and the web tracking package in
# headless Chromium. Needs Rust, python3 and npm; the Python packages go into .venv, the npm
# packages into tests/js/node_modules, and Chromium is installed from Debian when missing.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs Debian's package $2 when the command $1 is missing (as root), or says what to install.
need() {
    command -v "$1" >/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        echo "error: $1 is not installed (apt-get install $2)" >&2
        exit 1
    fi
}

# Builds every test and the binaries they run (target/debug/cairn among them) first, so a build
# error stops here. `cargo build` would resolve dependency features without the dev-dependencies'
# and build the query engine twice.
cargo test --workspace --no-run
# Run every Rust test even when one fails, then the Python suite; fail at the end if either did.
rust_status=0
cargo test --workspace --no-fail-fast || rust_status=$?

venv=.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
        rm -rf "$venv"
        # Debian and Ubuntu ship venv support (ensurepip) as a separate package.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        else
            echo "error: python3 -m venv failed; install python3-venv (apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt

# The browser test (tests/python/test_web_tracking.py) loads the official web tracking package
# into Debian's Chromium; the Node SDKs and that package come from npm.
need chromium chromium
need npm npm
(cd tests/js && npm ci --no-audit --no-fund --silent)

status=0
CAIRN_BIN="$PWD/target/debug/cairn" "$venv/bin/python" -m pytest tests/python -q \
    -p no:cacheprovider --timeout=600 "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests from tests/python" >&2
    status=1
fi
if [ "$rust_status" -ne 0 ]; then
    echo "error: cargo test --workspace failed (exit $rust_status); see its output above" >&2
    [ "$status" -ne 0 ] || status=$rust_status
fi
exit "$status"
