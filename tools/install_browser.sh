#!/usr/bin/env bash
# Install the browser used by tests/test_web_browser.py: Debian's Chromium, driven by Playwright from PyPI.
# Idempotent: does nothing when /usr/bin/chromium is already there. Playwright's own browser download
# (`playwright install`) is never used; the tests launch this Chromium via executable_path.
# Usage: tools/install_browser.sh            (needs root or sudo for apt-get)
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: apt-get not found; install Chromium with your package manager" \
         "(the browser tests skip without it)" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser.sh: need root (or sudo) to run apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
