#!/usr/bin/env bash
# What tests/test_browser.py needs from Debian (`make browser`, run by `make test`); see tools/apt_install.sh.
exec "$(dirname "$0")/apt_install.sh" "tests/test_browser.py" "chromium chromedriver" chromium chromium-driver
