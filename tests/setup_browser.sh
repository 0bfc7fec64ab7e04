#!/bin/sh
# Installs Debian's headless Chromium for the book test (tests/test_book.py) when it is missing.
# Needs root and apt; elsewhere it says what to do and exits 0 so that the other tests still run.
set -e
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
        echo "setup_browser: apt-get could not install chromium; the book's browser test will be skipped" >&2
    fi
else
    echo "setup_browser: /usr/bin/chromium is missing; install Debian's chromium package (as root:" \
         "apt-get install -y chromium) or the book's browser test will be skipped" >&2
fi
