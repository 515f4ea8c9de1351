#!/usr/bin/env bash
# Makes HAProxy 3.0 runnable on this Debian 12 host and prints the path of the
# binary; `make test` runs the integration suites against it next to the
# system's 2.6 (WSCTL_HAPROXY=that path).
#
# Debian 13 (trixie) ships HAProxy 3.0, built against glibc 2.38+ and
# OpenSSL 3.2+, newer than Debian 12's. The script downloads the haproxy
# package and the libraries it links to from trixie with apt-get against a
# private apt state (its own sources list, lists and archives under the
# cache: /etc/apt and the system's apt state are never touched), unpacks them
# into one folder with dpkg -x, and points the binary at that folder's
# dynamic loader and libraries with patchelf. The system's libraries are left
# alone: only this binary uses the unpacked ones.
#
# Idempotent: the result is cached under .cache/haproxy-3.0/ (git-ignored)
# and a second run only checks that the binary still runs. HAPROXY30_MIRROR
# names another Debian mirror (default http://deb.debian.org/debian).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# The real path: it is written into the binary, and .cache may be a symlink
# shared by several checkouts.
mkdir -p "$root/.cache/haproxy-3.0"
cache="$(cd "$root/.cache/haproxy-3.0" && pwd -P)"
sysroot="$cache/root"
bin="$cache/haproxy"
libdir="$sysroot/usr/lib/x86_64-linux-gnu"
mirror="${HAPROXY30_MIRROR:-http://deb.debian.org/debian}"
suite=trixie
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# haproxy and everything its binary loads (ldd on trixie: libcrypto brings
# zlib and zstd), the loader included: the binary must not mix its
# libraries with the host's glibc.
packages=(haproxy libc6 libssl3t64 liblua5.4-0 libjemalloc2 libpcre2-8-0 libcrypt1
  libopentracing-c-wrapper0t64 libopentracing1 libstdc++6 libgcc-s1 zlib1g libzstd1)

die() { echo "haproxy30.sh: $*" >&2; exit 1; }

runs() { [[ -x "$bin" ]] && [[ $("$bin" -v 2>/dev/null) == "HAProxy version 3.0."* ]]; }

if runs; then echo "$bin"; exit 0; fi

[[ $(dpkg --print-architecture) == amd64 ]] || die "only amd64 hosts are supported (this one is $(dpkg --print-architecture))"
[[ -r $keyring ]] || die "$keyring missing (apt-get install debian-archive-keyring)"
if ! command -v patchelf >/dev/null 2>&1; then
  echo "installing patchelf with apt-get..." >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to install patchelf"
    sudo=sudo
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends patchelf >/dev/null ||
    die "cannot install patchelf (apt-get install patchelf)"
fi

echo "fetching HAProxy 3.0 from Debian $suite into $cache (once)..." >&2
apt="$cache/apt"
mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt/sources.list"
aptopts=(
  -o "Dir::Etc::SourceList=$apt/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State=$apt/state"
  -o "Dir::State::status=$apt/state/status"
  -o "Dir::Cache=$apt/cache"
  -o "APT::Architecture=amd64"
  # The cache may be unreadable by apt's unprivileged _apt user.
  -o "APT::Sandbox::User=root"
)
touch "$apt/state/status"
if ! apt-get "${aptopts[@]}" -qq update >"$apt/update.log" 2>&1; then
  cat "$apt/update.log" >&2
  die "cannot reach Debian $suite at $mirror (network? set HAPROXY30_MIRROR to a Debian mirror)"
fi
# apt-get update exits 0 when a source fails to download: check the index.
compgen -G "$apt/state/lists/*_dists_${suite}_main_binary-amd64_Packages*" >/dev/null ||
  { cat "$apt/update.log" >&2; die "cannot reach Debian $suite at $mirror: no package index (network? set HAPROXY30_MIRROR to a Debian mirror)"; }
(cd "$apt/debs" && rm -f ./*.deb && apt-get "${aptopts[@]}" -qq download "${packages[@]}") ||
  die "apt-get download from Debian $suite failed"

rm -rf "$sysroot" "$bin"
mkdir -p "$sysroot"
for deb in "$apt/debs"/*.deb; do dpkg -x "$deb" "$sysroot"; done
[[ -x "$sysroot/usr/sbin/haproxy" && -e "$libdir/ld-linux-x86-64.so.2" ]] ||
  die "the unpacked packages lack usr/sbin/haproxy or the loader"
cp "$sysroot/usr/sbin/haproxy" "$bin.tmp"
# --force-rpath writes DT_RPATH, which (unlike DT_RUNPATH) also applies to
# the libraries' own dependencies: liblua needs trixie's libm, not the host's.
patchelf --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdir" "$bin.tmp"
mv "$bin.tmp" "$bin"
rm -rf "$apt/debs" "$apt/cache"
runs || die "the patched $bin does not run: $("$bin" -v 2>&1 | head -3)"
echo "$bin"
