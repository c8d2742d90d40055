# Shared by scripts/up, down, check and kafka, the tests (t/lib/TilerTest.pm)
# and bench/run. Source it.
# shellcheck shell=bash

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

# Debian 12 packages the project builds, runs and tests with.
TILER_APT_PACKAGES="apache2 apache2-utils apache2-dev libapr1-dev libaprutil1-dev libsqlite3-dev libwebp-dev libtiff-dev librdkafka-dev
 libgd-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev libyajl-dev kcat autoconf automake libtool pkg-config make gcc perl curl iproute2 maven default-jre-headless"

say() { echo "==> $*" >&2; }
die() { echo "$*" >&2; exit 1; }

# Files made here (configs, the monitor's snapshot) must be readable by
# httpd's children; a umask of 077 would hide them.
umask 022

# When httpd starts as root its children run as this user (User in the
# generated configs), and every path they open must be reachable by it.
TILER_HTTPD_USER=www-data

# Runs a command as httpd's children would: as that user when we are root.
as_httpd_user() {
    if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
    setpriv --reuid="$TILER_HTTPD_USER" --regid="$TILER_HTTPD_USER" --init-groups "$@"
}
httpd_user_can_read() { as_httpd_user test -r "$1" 2>/dev/null; }

# Where run/ (scripts/up) and t/run/ (tests) go. In the checkout when httpd's
# children can read it; otherwise (a checkout in root's home, mode 0700) in a
# directory of the checkout's own under /var/tmp, named after its path.
run_root() {
    if httpd_user_can_read "$top/htdocs/index.html"; then echo "$top"; return 0; fi
    local d
    d=/var/tmp/mod_tiler-$(printf '%s' "$top" | md5sum | cut -c1-12)
    mkdir -p -m 0755 "$d" 2>/dev/null
    # /var/tmp is everyone's: use the directory only when it is ours.
    if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(stat -c %u "$d")" != "$(id -u)" ]; then
        die "$d is not a directory of $(id -un); remove it, or set TILER_RUN_DIR"
    fi
    chmod 0755 "$d"
    echo "$d"
}

# The TilerHtdocsDir to use: the checkout's htdocs/ when httpd's children can
# read it, else a copy of it in directory $1, made afresh each time.
pages_dir() {
    local dest=$1
    if httpd_user_can_read "$top/htdocs/index.html"; then echo "$top/htdocs"; return 0; fi
    rm -rf "$dest" && mkdir -p -m 0755 "$dest" &&
        install -m 0644 "$top"/htdocs/* "$dest/" || die "cannot copy htdocs/ to $dest"
    echo "$dest"
}

# Stops at once when httpd's children could not enter run directory $1 (a
# TILER_RUN_DIR under a closed directory), naming it and the fix.
check_run_dir() {
    as_httpd_user test -x "$1" 2>/dev/null && return 0
    die "httpd's children run as $TILER_HTTPD_USER and cannot enter $1.
Make every directory above it enterable (chmod o+x), or unset TILER_RUN_DIR (the default works anywhere)."
}

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

# The Python test clients (t/requirements.txt: schemathesis,
# openapi-spec-validator), in a virtualenv of Debian's python3 under
# ~/.cache/mod_tiler, made again when the requirements change.
install_python_tools() {
    local venv=${TILER_PYVENV:-$HOME/.cache/mod_tiler/pyvenv} req="$top/t/requirements.txt"
    if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/requirements.txt"; then return 0; fi
    say "pip install -r t/requirements.txt (into $venv)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv" &&
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >/dev/null &&
    cp "$req" "$venv/requirements.txt"
}

# promtool from Debian's prometheus package, unpacked under ~/.cache/mod_tiler
# rather than installed: installing the package would also start a
# Prometheus server. t/48-metrics.t checks /metrics with it.
install_promtool() {
    local dir=${TILER_PROMTOOL_DIR:-$HOME/.cache/mod_tiler/promtool} tmp
    [ -x "$dir/usr/bin/promtool" ] && return 0
    say "promtool (apt-get download prometheus, unpacked into $dir)"
    tmp=$(mktemp -d) && chmod 755 "$tmp" &&
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) &&
    mkdir -p "$dir" && dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" &&
    mkdir -p "$dir/usr/bin" && cp "$tmp/x/usr/bin/promtool" "$dir/usr/bin/" &&
    rm -rf "$tmp"
}

# 0 when process $1 is alive and its command line has $2 (our binary, our
# config file): a pid from a stale pid file may have been reused since by
# some other process, which is not ours to signal.
cmdline_has() {
    local args
    args=$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null) || return 1
    [ -n "$args" ] && [[ $args == *"$2"* ]]
}
# The pid in pid file $1 when that process is alive and ours ($2 on its
# command line); nothing and 1 otherwise.
pid_ours() {
    local pid
    [ -f "$1" ] && pid=$(cat "$1" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] && cmdline_has "$pid" "$2" || return 1
    echo "$pid"
}
# SIGKILL to the processes of process group $1 that are still alive and
# ours ($2 on their command line): what outlived a stop, and nothing else.
kill_group_ours() {
    local stat pid fields
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}; pid=${pid%/stat}
        fields=$(sed 's/^.*) //' "$stat" 2>/dev/null) || continue   # after "pid (comm) ": state ppid pgrp
        [ "$(echo "$fields" | cut -d' ' -f3)" = "$1" ] && cmdline_has "$pid" "$2" && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}
