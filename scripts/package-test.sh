#!/usr/bin/env bash
# Installs dist/wsctl_*.deb the way a user would (apt-get install ./…deb),
# runs the installed wsctl, verifies the agent's unit and a man page, then
# purges the package, also when a step fails, so the machine is left clean.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
debs=(dist/wsctl_*.deb)
if [ ${#debs[@]} -ne 1 ]; then
	echo "package-test: want one dist/wsctl_*.deb (make package), have: ${debs[*]:-none}" >&2
	exit 2
fi
if dpkg -s wsctl >/dev/null 2>&1; then
	echo "package-test: a wsctl package is installed already; purge it first (apt-get purge wsctl)" >&2
	exit 2
fi
trap 'apt-get purge -y wsctl >/dev/null 2>&1 || true; rm -f /etc/systemd/system/haproxy.service.d/wsctl-state.conf' EXIT
apt-get install -y -q "./${debs[0]}"
/usr/bin/wsctl version
# The binary says the version the package has, and knows its commit.
want="wsctl $(dpkg-query -W -f='${Version}' wsctl)"
if [ "$(/usr/bin/wsctl version | head -1)" != "$want" ] || /usr/bin/wsctl version | grep -q 'commit: unknown'; then
	echo "package-test: wsctl version says $(/usr/bin/wsctl version | tr '\n' ' '), want $want and a commit" >&2
	exit 1
fi
# From / so nothing in the repository helps the installed files.
(cd / && /usr/bin/wsctl check -c /etc/wsctl/wsctl.yaml)
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /usr/lib/systemd/system/wsctl-agent.service
fi
# The haproxy.service drop-in is opt-in: installed inactive, enabled with the
# documented link, verified, and the link removed with the package.
dropin=/etc/systemd/system/haproxy.service.d/wsctl-state.conf
if [ -e "$dropin" ] || [ -e /usr/lib/systemd/system/haproxy.service.d/wsctl-state.conf ]; then
	echo "package-test: installing the package enabled the haproxy.service drop-in" >&2
	exit 1
fi
mkdir -p /etc/systemd/system/haproxy.service.d
ln -s /usr/share/wsctl/systemd/haproxy-wsctl-state.conf "$dropin"
if command -v systemd-analyze >/dev/null && [ -e /lib/systemd/system/haproxy.service ]; then
	systemd-analyze verify haproxy.service
fi
zcat /usr/share/man/man1/wsctl-agent.1.gz | grep -q '^\.TH "WSCTL" "1"'
test -s /usr/share/bash-completion/completions/wsctl
if command -v promtool >/dev/null; then promtool check rules /usr/share/wsctl/prometheus/alerts.yml; fi
dpkg-query -W -f='${Conffiles}\n' wsctl | grep -q /etc/wsctl/wsctl.yaml
apt-get purge -y -q wsctl
trap - EXIT
if [ -e /usr/bin/wsctl ] || [ -e /etc/wsctl ] || [ -L "$dropin" ]; then
	echo "package-test: files left after the purge" >&2
	exit 1
fi
echo "package-test: $(basename "${debs[0]}") installs, runs and purges cleanly"
