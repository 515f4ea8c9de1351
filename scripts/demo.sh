#!/usr/bin/env bash
# make demo: render the basic example, start three wsecho backends and HAProxy
# in a temp dir, prove WebSockets flow through with a short client run, show
# how to connect, and stop everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
export WSCTL_RUN_DIR
WSCTL_RUN_DIR="$(mktemp -d -t wsctl-demo.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WSCTL_RUN_DIR"
  echo "demo: stopped everything and removed $WSCTL_RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
spec=examples/basic/wsctl.yaml
for port in 8080 8404 9001 9002 9003; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; the basic example needs 8080, 8404 and 9001-9003" >&2
    exit 1
  fi
done

start=$(date +%s%N)
echo "== wsctl check: render $spec and validate it with the real haproxy"
"$BIN/wsctl" check -c "$spec"
"$BIN/wsctl" render -c "$spec" -o "$WSCTL_RUN_DIR/haproxy.cfg"

echo "== starting three wsecho backends and HAProxy (master-worker) in $WSCTL_RUN_DIR"
for i in 1 2 3; do
  "$BIN/wsecho" --listen "127.0.0.1:900$i" --id "backend$i" 2>"$WSCTL_RUN_DIR/backend$i.log" &
  pids+=($!)
done
"$haproxy_bin" -W -db -S "$WSCTL_RUN_DIR/master.sock" -f "$WSCTL_RUN_DIR/haproxy.cfg" 2>"$WSCTL_RUN_DIR/haproxy.log" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
  sleep 0.1
done
echo "demo: up in $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "== 60 WebSocket clients with cookie jars through ws://127.0.0.1:8080/ws for 3s"
"$BIN/wsload" --url ws://127.0.0.1:8080/ws --conns 60 --rate 200 --duration 3s --interval 500ms --cookies

echo "== wsctl status (the HAProxy runtime API)"
"$BIN/wsctl" status -c "$spec"

# Without a terminal nobody can try anything in another one, and nothing
# would hold the demo open: the checks above are the demo, and set -e made
# any failure the exit status already.
if [[ ! -t 0 || -n "${CI:-}" ]]; then
  echo "demo: no terminal: the checks passed (check, 60 WebSockets through HAProxy, status); stopping now (run make demo in a terminal to keep it running)"
  exit 0
fi

cat <<MSG

The demo is running:
  frontend   ws://127.0.0.1:8080/ws   (leastconn, SERVERID sticky cookie)
  stats      http://127.0.0.1:8404/ (HAProxy stats page)  http://127.0.0.1:8404/metrics (Prometheus)
  backends   backend1..3 on 127.0.0.1:9001-9003 (wsecho: greets, echoes)
  sockets    $WSCTL_RUN_DIR/admin.sock (admin)  $WSCTL_RUN_DIR/master.sock (master)
Try, in another terminal:
  WSCTL_RUN_DIR=$WSCTL_RUN_DIR bin/wsctl status -c $spec
  bin/wsload --url ws://127.0.0.1:8080/ws --conns 100 --duration 10s --cookies
  WSCTL_RUN_DIR=$WSCTL_RUN_DIR bin/wsctl drain backend2 -c $spec --close-after 2s --close-rate 20
MSG
read -r -p "Press Enter to stop the demo. " _ || true
