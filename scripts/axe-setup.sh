#!/usr/bin/env bash
# Fetch axe-core (the accessibility checker the browser tests inject into each page)
# from the npm registry into a cache outside the repository, and print the file's path.
#
#   scripts/axe-setup.sh      install (or find) it; idempotent
set -euo pipefail

AXE_VERSION="4.10.2"
dir="${AUTOPOSTER_AXE_DIR:-$HOME/.cache/autoposter-axe}"
file="$dir/package/axe.min.js"
if [ ! -f "$file" ] || ! grep -q "$AXE_VERSION" "$dir/package/package.json" 2>/dev/null; then
    mkdir -p "$dir"
    cd "$dir"
    rm -rf package ./*.tgz
    npm pack --silent "axe-core@$AXE_VERSION" >/dev/null
    tar -xzf "axe-core-$AXE_VERSION.tgz"
fi
echo "$file"
