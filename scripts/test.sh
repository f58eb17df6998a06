#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine (Python and pip only), then run
# the whole suite. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1; then
    # Debian's Chromium for the browser test: never a browser downloaded by a test tool.
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null;
    else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
# onnxruntime-web for the on-device page's tests: the pinned npm release, fetched once into
# .web-runtime/ (git-ignored) and checked against its published hash. Without the registry those
# tests skip, saying why.
python -c "from fer.device.runtime_files import runtime_folder; runtime_folder()" ||
    echo "onnxruntime-web could not be fetched: the on-device tests will skip"
python -m ruff check .
python -m pytest "$@"
