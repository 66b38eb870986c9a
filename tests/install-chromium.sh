#!/bin/sh
# Chromium for the browser tests (tests/browser.py): Debian's package, installed where this machine
# lets us — as root, or with password-less sudo — through apt-get. Elsewhere it says so and the
# browser tests skip with the same reason; it never fails the test command it is part of.
for browser in "$DEALFLOW_CHROMIUM" chromium chromium-browser google-chrome; do
    [ -n "$browser" ] && command -v "$browser" >/dev/null 2>&1 && exit 0
done
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        as_root=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root="sudo -n"
    else
        as_root="none"
    fi
    if [ "$as_root" != none ] && $as_root apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null; then
        exit 0
    fi
fi
echo "install-chromium: no Chromium and none could be installed (needs apt-get as root):" \
    "the browser tests will skip" >&2
exit 0
