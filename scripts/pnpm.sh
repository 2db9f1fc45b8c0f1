#!/bin/sh
# Runs the pnpm release this workspace is pinned to, through npx, so a machine needs only Node and npm.
# Where Node's headers are installed locally (/usr/include/node), native addons build against them
# instead of downloading them.
set -e
if [ -z "${npm_config_nodedir:-}" ] && [ -d /usr/include/node ]; then
  export npm_config_nodedir=/usr
fi
exec npx -y pnpm@12.4.2 "$@"
