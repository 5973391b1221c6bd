#!/usr/bin/env bash
# Install Debian packages the tests need, once: tools/apt_install.sh "<what needs them>" "<commands that show they
# are installed>" <package>... (`make browser` and `make sandbox` call it). Never fails the build: where they cannot
# be installed (not root, no apt-get, no package index), it says so; the tests that need them are then skipped
# with the same reason, and `make autograde` refuses to grade without bubblewrap unless UNSANDBOXED=1.
what="$1"; commands="$2"; shift 2
missing=0
for cmd in $commands; do command -v "$cmd" >/dev/null 2>&1 || missing=1; done
[ "$missing" = 0 ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$what: $* missing, and this shell cannot install them (needs root and apt-get)."
    echo "As root: apt-get update && apt-get install $*"
    exit 0
fi
echo "Installing $* for $what (apt-get, once)..."
log="$(mktemp)"
if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; then
    echo "installed: $*"
else
    echo "$what: apt-get could not install $*:"
    tail -5 "$log"
fi
rm -f "$log"
exit 0
