#!/usr/bin/env bash
# Installs everything the project needs on a bare Debian 12 machine (root). Idempotent: a second
# run checks and returns in seconds. Nothing it downloads lands in git (see .gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

IMGUI_VERSION=1.90.1
IMGUI_DEB_VERSION=1.90.1+ds-1
IMGUI_DIR="$ROOT/third_party/imgui-$IMGUI_VERSION"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates openssl curl
  emscripten
  libcpp-httplib-dev nlohmann-json3-dev libssl-dev zlib1g-dev libbrotli-dev
  libgtest-dev googletest libsqlite3-dev sqlite3 libjemalloc-dev libcurl4-openssl-dev libboost1.81-dev libspdlog-dev libfmt-dev libcli11-dev
  chromium nginx-light wrk clang-format clang libclang-rt-14-dev
  libpq-dev postgresql-15
)

say() { printf '[setup] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm: the machine image may carry them from another repository (whose nodejs
# conflicts with Debian's npm package); install Debian's only when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# python3 runs docs/verify/python/receiver.py in the tests (standard library only).
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  # PostgreSQL's package would create and start a cluster of its own ("main", port 5432); the
  # tests and scripts/pg-dev.sh start throwaway clusters instead.
  if [ ! -f /etc/postgresql-common/createcluster.conf ] ||
     ! grep -q '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
    $SUDO mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' | $SUDO tee -a /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      say "ERROR: Debian package '$p' is not available from the configured apt sources" >&2
      exit 1
    fi
  done
  # confold: keep the createcluster.conf written above when postgresql-common brings its own.
  if ! $SUDO apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
      -o Dpkg::Options::=--force-confdef "${missing[@]}" >/tmp/mambo-apt.log 2>&1; then
    tail -30 /tmp/mambo-apt.log >&2
    say "ERROR: apt-get install failed for: ${missing[*]} (log: /tmp/mambo-apt.log)" >&2
    exit 1
  fi
else
  say "Debian packages: all present"
fi

# Dear ImGui sources: Debian's binary package has no sources usable for WebAssembly, so take the
# source package (1.90.1 from trixie: 1.86 drops keys pressed and released within one frame).
if [ ! -f "$IMGUI_DIR/imgui.cpp" ]; then
  say "fetching Dear ImGui $IMGUI_VERSION sources with apt-get source"
  SRC_LIST=/etc/apt/sources.list.d/src-trixie.list
  if [ ! -f "$SRC_LIST" ]; then
    echo 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' \
      | $SUDO tee "$SRC_LIST" >/dev/null
    $SUDO apt-get update -qq
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get source --download-only "imgui=$IMGUI_DEB_VERSION" >/dev/null 2>&1) || {
    say "ERROR: could not fetch Debian source package imgui=$IMGUI_DEB_VERSION" >&2
    exit 1
  }
  mkdir -p "$IMGUI_DIR"
  tar -xf "$tmp"/imgui_*.orig.tar.* -C "$IMGUI_DIR" --strip-components=1
  rm -rf "$tmp"
  [ -f "$IMGUI_DIR/imgui.cpp" ] || { say "ERROR: imgui.cpp missing after unpacking" >&2; exit 1; }
else
  say "Dear ImGui $IMGUI_VERSION sources: present"
fi

# npm dev packages (playwright-core drives Debian's chromium, no browser download; ajv checks
# the event schemas). Installed again whenever one of package.json's is missing.
if ! (cd "$ROOT" && npm ls --depth=0 >/dev/null 2>&1); then
  say "installing npm dev packages"
  (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
else
  say "npm packages: present"
fi
say "done"
