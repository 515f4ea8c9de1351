#!/usr/bin/env bash
# Runs the Consul example for real, in a temp dir: a dev Consul, three wsecho
# backends registered in it as chat-ws (with /health checks), HAProxy rendered
# from the spec, and the wsctl agent. It then registers a fourth instance and
# deregisters one, and shows HAProxy following without a reload. Everything it
# started is stopped on exit. Needs ports 8080, 8404, 8500 and 9001-9004.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
make -s build
consul_bin="$(bash scripts/consul.sh)"
haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
export WSCTL_RUN_DIR CONSUL_HTTP_ADDR=127.0.0.1:8500
WSCTL_RUN_DIR="$(mktemp -d -t wsctl-consul.XXXXXX)"
spec=examples/consul/wsctl.yaml
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "${KEEP_LOGS:-}" ]]; then cp -r "$WSCTL_RUN_DIR" /tmp/consul-example-logs; fi
  rm -rf "$WSCTL_RUN_DIR"
  echo "consul example: stopped everything and removed $WSCTL_RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
register() { # id port
  curl -fsS -X PUT "http://$CONSUL_HTTP_ADDR/v1/agent/service/register" -d @- <<JSON
{"ID": "$1", "Name": "chat-ws", "Address": "127.0.0.1", "Port": $2,
 "Check": {"HTTP": "http://127.0.0.1:$2/health", "Interval": "1s"}}
JSON
}

echo "== dev Consul on $CONSUL_HTTP_ADDR"
"$consul_bin" agent -dev -bind 127.0.0.1 -client 127.0.0.1 -dns-port -1 -grpc-port -1 \
  -data-dir "$WSCTL_RUN_DIR/consul" >"$WSCTL_RUN_DIR/consul.log" 2>&1 &
pids+=($!)
until curl -fsS "http://$CONSUL_HTTP_ADDR/v1/status/leader" 2>/dev/null | grep -q :; do sleep 0.2; done

echo "== three wsecho backends registered as chat-ws"
for i in 1 2 3 4; do
  bin/wsecho --listen "127.0.0.1:900$i" --id "chat-ws-$i" 2>"$WSCTL_RUN_DIR/wsecho$i.log" &
  pids+=($!)
  wait_port "900$i"
done
for i in 1 2 3; do register "chat-ws-$i" "900$i"; done
until [[ $(curl -fsS "http://$CONSUL_HTTP_ADDR/v1/health/service/chat-ws?passing=1" | grep -o '"ServiceID"' | wc -l) -ge 3 ]]; do sleep 0.2; done

echo "== HAProxy from a one-shot render of the spec"
bin/wsctl render -c "$spec" -o "$WSCTL_RUN_DIR/haproxy.cfg"
cp "$WSCTL_RUN_DIR/haproxy.cfg" "$WSCTL_RUN_DIR/haproxy.cfg.initial"
"$haproxy_bin" -W -db -S "$WSCTL_RUN_DIR/master.sock" -f "$WSCTL_RUN_DIR/haproxy.cfg" 2>"$WSCTL_RUN_DIR/haproxy.log" &
pids+=($!)
wait_port 8080

echo "== wsctl agent (metrics on 127.0.0.1:9180)"
bin/wsctl agent -c "$spec" --haproxy-config "$WSCTL_RUN_DIR/haproxy.cfg" 2>"$WSCTL_RUN_DIR/agent.log" &
pids+=($!)
wait_port 9180
worker() { echo "show info" | socat stdio "$WSCTL_RUN_DIR/admin.sock" | awk -F': ' '$1=="Pid"{print $2}'; }
before=$(worker)
bin/wsctl status -c "$spec"

echo "== register chat-ws-4, deregister chat-ws-2"
register chat-ws-4 9004
curl -fsS -X PUT "http://$CONSUL_HTTP_ADDR/v1/agent/service/deregister/chat-ws-2"
sleep 3
bin/wsctl status -c "$spec"
echo "HAProxy worker pid before $before, after $(worker): no reload"
curl -fsS http://127.0.0.1:9180/metrics | grep -E '^wsctl_(runtime_ops|reloads)' || true
bin/wsload --url ws://127.0.0.1:8080/ws --conns 30 --rate 100 --duration 2s --interval 500ms --cookies

if [[ -t 0 && -z "${CI:-}" ]]; then
  read -r -p "Press Enter to stop the example. " _ || true
fi
