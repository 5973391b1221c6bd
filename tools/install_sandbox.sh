#!/usr/bin/env bash
# What sandboxed grading needs from Debian (`make sandbox`, run by `make test` and `make autograde`; docs/grading.md).
exec "$(dirname "$0")/apt_install.sh" "sandboxed grading" "bwrap setpriv" bubblewrap util-linux
