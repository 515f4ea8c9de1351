#!/usr/bin/env bash
# Installs, when missing, the real components a command drives: HAProxy,
# nginx, socat and tmux (wsctl top's terminal test) from Debian's packages, promtool (Debian's prometheus
# package: the alerting rules' unit tests), Consul built from the Go module
# proxy (scripts/consul.sh). Arguments name what the caller needs (haproxy,
# nginx, socat, tmux, promtool, consul); none means everything the tests need.
# Idempotent; quiet when everything is there.
#
# It never stops or restarts a service: Debian starts the haproxy and nginx
# it installs with their own configs (and, where systemd runs, the
# prometheus package starts a Prometheus server on :9090), and they are
# left alone (wsctl's tests and demo run their own instances on their own
# ports and sockets, and use only promtool). On a workstation or a load
# balancer a running haproxy or nginx is not ours.
set -euo pipefail
wanted=("$@")
if ((${#wanted[@]} == 0)); then wanted=(haproxy nginx socat tmux promtool consul); fi
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }
missing=()
consul=false
for c in "${wanted[@]}"; do
  case "$c" in
    haproxy) have haproxy || missing+=(haproxy) ;;
    nginx) have nginx || missing+=(nginx-light) ;;
    socat) have socat || missing+=(socat) ;;
    tmux) have tmux || missing+=(tmux) ;;
    promtool) have promtool || missing+=(prometheus) ;;
    consul) consul=true ;;
    *) echo "deps.sh: unknown component $c (want haproxy, nginx, socat, tmux, promtool or consul)" >&2; exit 2 ;;
  esac
done
if ((${#missing[@]} > 0)); then
  echo "installing ${missing[*]} with apt-get..." >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Consul is not packaged by Debian: a consul on PATH at the pinned version,
# else the pinned version built once (about 5 minutes), cached under .cache/.
if $consul; then bash "$(dirname "$0")/consul.sh" >/dev/null; fi
