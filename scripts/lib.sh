# Shared by scripts/up, scripts/down and scripts/check. Source it.
# shellcheck shell=bash

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 packages the project builds, runs and tests with.
TILER_APT_PACKAGES="apache2 apache2-utils apache2-dev libapr1-dev libaprutil1-dev libsqlite3-dev libwebp-dev librdkafka-dev
 libgd-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev libyajl-dev kcat autoconf automake libtool pkg-config make gcc perl curl iproute2 maven default-jre-headless"

say() { echo "==> $*" >&2; }

install_packages() {
    local missing=() p
    # shellcheck disable=SC2086
    for p in $TILER_APT_PACKAGES ${TILER_APT_EXTRA:-}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    # default-jre-headless is only one way to have java; any java will do.
    if command -v java >/dev/null; then
        local keep=() m
        for m in "${missing[@]}"; do [ "$m" = default-jre-headless ] || keep+=("$m"); done
        missing=("${keep[@]}")
    fi
    if command -v node >/dev/null && command -v npm >/dev/null; then
        local keep=() m
        for m in "${missing[@]}"; do [ "$m" = nodejs ] || [ "$m" = npm ] || keep+=("$m"); done
        missing=("${keep[@]}")
    fi
    if command -v mvn >/dev/null; then
        local keep=() m
        for m in "${missing[@]}"; do [ "$m" = maven ] || keep+=("$m"); done
        missing=("${keep[@]}")
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # The apache2 package's own site on port 80 is not used; leave it be.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Builds in the checkout. configure runs again when its flags changed.
build() {
    local flags="$*"
    cd "$top"
    if [ ! -x configure ]; then
        say "autoreconf"
        autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
    fi
    # Configure again when the flags changed, or clang arrived since (make fuzz).
    if [ ! -f Makefile ] || [ "$(cat .configure-flags 2>/dev/null)" != "$flags" ] \
       || { grep -q '^FUZZ_CC = *$' Makefile && command -v clang-14 >/dev/null; }; then
        say "configure $flags"
        # shellcheck disable=SC2086
        ./configure $flags >/dev/null || { echo "configure failed; see config.log" >&2; exit 1; }
        echo "$flags" > .configure-flags
    fi
    say "make"
    make -j"$(nproc)" >/dev/null || { make; exit 1; }
}

# The browser test's driver, pinned by t/browser/package-lock.json.
install_browser_driver() {
    [ -d "$top/t/browser/node_modules/playwright-core" ] && return 0
    say "npm ci (playwright-core for the browser test)"
    (cd "$top/t/browser" && npm ci --no-audit --no-fund >/dev/null)
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
