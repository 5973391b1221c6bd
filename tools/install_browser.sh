#!/usr/bin/env bash
# Install what tests/test_browser.py needs from Debian: chromium and chromium-driver (`make test` runs this).
# Never fails the build: where they cannot be installed (not root, no apt-get, no package index), it says
# so, and the browser test is skipped with the same message in pytest's summary.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/test_browser.py will be skipped: chromium and chromium-driver are missing and this shell cannot"
    echo "install them (needs root and apt-get). As root: apt-get update && apt-get install chromium chromium-driver"
    exit 0
fi
echo "Installing chromium and chromium-driver for tests/test_browser.py (apt-get, once)..."
log="$(mktemp)"
if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >>"$log" 2>&1; then
    echo "installed: $(chromium --version 2>/dev/null)"
else
    echo "tests/test_browser.py will be skipped: apt-get could not install chromium and chromium-driver:"
    tail -5 "$log"
fi
rm -f "$log"
exit 0
