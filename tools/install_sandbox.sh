#!/usr/bin/env bash
# Install what sandboxed grading needs from Debian: bubblewrap (`make test` and `make autograde` run this).
# Never fails the build: where it cannot be installed (not root, no apt-get, no package index), it says so;
# `make autograde` then refuses to grade unless UNSANDBOXED=1, and the sandbox tests are skipped with the reason.
if command -v bwrap >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bubblewrap is missing and this shell cannot install it (needs root and apt-get)."
    echo "As root: apt-get update && apt-get install bubblewrap util-linux   (docs/grading.md)"
    exit 0
fi
echo "Installing bubblewrap for sandboxed grading (apt-get, once)..."
log="$(mktemp)"
if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap util-linux >>"$log" 2>&1; then
    echo "installed: $(bwrap --version 2>/dev/null)"
else
    echo "apt-get could not install bubblewrap; grading refuses without it (UNSANDBOXED=1 overrides):"
    tail -5 "$log"
fi
rm -f "$log"
exit 0
