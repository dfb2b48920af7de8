#!/usr/bin/env bash
# A local Redis Cluster for the Cluster tests: 3 masters and 3 replicas on 127.0.0.1, from Debian's
# redis-server. `start` prints the line to export; the tests read REDIS_CLUSTER_NODES.
#
#   bash .ci/redis-cluster.sh start        # ports 7000-7005 (REDIS_CLUSTER_PORT=7100 for 7100-7105)
#   export REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005
#   bash .ci/redis-cluster.sh stop         # kills the six servers and removes their folder
#
# No persistence (the tests make their own keys and delete them); a short node timeout so that a
# lost master would be replaced in seconds. The data folder is $TMPDIR/authx-cluster-<port>.
set -euo pipefail

base=${REDIS_CLUSTER_PORT:-7000}
ports=$(seq "$base" $((base + 5)))
dir="${TMPDIR:-/tmp}/authx-cluster-$base"

nodes () { local list=""; for p in $ports; do list+="${list:+,}127.0.0.1:$p"; done; echo "$list"; }

# Bounded waits: every loop below gives up after its count.
wait_for () { # description, tries, command...
  local what=$1 tries=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-cluster: gave up waiting for $what" >&2
  return 1
}

stop () {
  for p in $ports; do
    if [ -f "$dir/$p/redis.pid" ]; then
      pid=$(cat "$dir/$p/redis.pid")
      # only our own server: its command line names its port
      if grep -qa -- "$p" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
  done
  rm -rf "$dir"
}

all_ok () {
  for p in $ports; do redis-cli -h 127.0.0.1 -p "$p" cluster info | grep -q '^cluster_state:ok' || return 1; done
}
replicas_up () {
  local up=0
  for p in $ports; do
    if redis-cli -h 127.0.0.1 -p "$p" info replication | grep -q '^master_link_status:up'; then up=$((up + 1)); fi
  done
  [ "$up" -eq 3 ]
}

start () {
  command -v redis-server >/dev/null 2>&1 || { echo "redis-cluster: redis-server is not installed (apt-get install redis-server)" >&2; return 1; }
  for p in $ports; do
    if redis-cli -h 127.0.0.1 -p "$p" ping >/dev/null 2>&1; then
      echo "redis-cluster: port $p is taken (stop the cluster there, or set REDIS_CLUSTER_PORT)" >&2
      return 1
    fi
  done
  # from here on, a failure stops what was started
  trap 'echo "redis-cluster: start failed; stopping it" >&2; stop' ERR
  rm -rf "$dir"
  for p in $ports; do
    mkdir -p "$dir/$p"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --dir "$dir/$p" \
      --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" \
      --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 2000 \
      --save "" --appendonly no
  done
  for p in $ports; do wait_for "127.0.0.1:$p" 50 redis-cli -h 127.0.0.1 -p "$p" ping; done
  # shellcheck disable=SC2046
  redis-cli --cluster create $(for p in $ports; do echo "127.0.0.1:$p"; done) --cluster-replicas 1 --cluster-yes >"$dir/create.log"
  wait_for "cluster_state:ok" 200 all_ok
  wait_for "the replicas' master_link_status:up" 200 replicas_up
  trap - ERR
  echo "export REDIS_CLUSTER_NODES=$(nodes)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  nodes) nodes ;;
  *) echo "usage: $0 start|stop|nodes" >&2; exit 2 ;;
esac
