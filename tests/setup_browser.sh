#!/bin/sh
# Installs Debian's headless Chromium and a Korean font for the browser tests (tests/test_book.py,
# tests/test_lab.py) when they are missing; without the font every Hangul heading is drawn as boxes.
# Needs root and apt; elsewhere it says what to do and exits 0 so that the other tests still run.
set -e
if [ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/truetype/nanum ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    if ! { apt-get update -qq &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-nanum >/dev/null; }; then
        echo "setup_browser: apt-get could not install chromium and fonts-nanum; without chromium" \
             "the browser tests will be skipped" >&2
    fi
elif [ ! -x /usr/bin/chromium ]; then
    echo "setup_browser: /usr/bin/chromium is missing; install Debian's packages (as root:" \
         "apt-get install -y chromium fonts-nanum) or the browser tests will be skipped" >&2
else
    echo "setup_browser: fonts-nanum is missing; screenshots will show Hangul as boxes (as root:" \
         "apt-get install -y fonts-nanum)" >&2
fi
