#!/usr/bin/env bash
# Installs the real components wsctl's tests and demo drive, when missing:
# HAProxy, nginx and socat from Debian's packages, and Consul built from the
# Go module proxy. Idempotent; quiet when everything is there.
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }
have haproxy || missing+=(haproxy)
have nginx || missing+=(nginx-light)
have socat || missing+=(socat)
# Consul is not packaged by Debian: build the pinned version from the Go
# module proxy once (about 5 minutes), cached under .cache/.
bash "$(dirname "$0")/consul.sh" >/dev/null
if ((${#missing[@]} == 0)); then exit 0; fi
echo "installing ${missing[*]} with apt-get..." >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services; wsctl runs its own instances.
for svc in haproxy nginx; do
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
