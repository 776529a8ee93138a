#!/usr/bin/env bash
# The one run command (README): installs what is missing, builds both targets, and starts
# webhookd with the console on the embedded default (SQLite in ./data, no other server).
# Prints the console URL and a new admin token. Extra arguments go to `webhookd serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh all

data_dir=${WEBHOOKD_DATA_DIR:-$PWD/data}
listen=${WEBHOOKD_LISTEN:-127.0.0.1:8080}
team=${MAMBO_TEAM:-default}
token=$(build/backend/webhookd token create --team "$team" --role admin --data-dir "$data_dir")

cat <<MSG

  mambo webhooks console:  http://${listen}/
  admin token (team ${team}, shown once; revoke with 'build/backend/webhookd token revoke'):
    ${token}

MSG
exec build/backend/webhookd serve --listen "$listen" --data-dir "$data_dir" \
  --web-root "$PWD/build-web/web" "$@"
