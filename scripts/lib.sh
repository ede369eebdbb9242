# Shared by scripts/serve and scripts/test: install missing Debian packages, find tools.
# shellcheck shell=bash

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "qtsp: need root to run: $*  (install sudo or run as root)" >&2
        return 1
    fi
}

APT_UPDATED=0
# apt_install PACKAGE... : installs the packages that are not installed yet.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "qtsp: please install: ${missing[*]} (no apt-get on this machine)" >&2
        return 1
    fi
    echo "qtsp: installing ${missing[*]} with apt-get" >&2
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The packages every qtsp machine needs at run time.
install_runtime_packages() {
    apt_install softhsm2 ca-certificates
}

# And what building it needs (a C compiler for SQLite and aws-lc; the Rust toolchain is assumed).
install_build_packages() {
    apt_install gcc libc6-dev make pkg-config
}
