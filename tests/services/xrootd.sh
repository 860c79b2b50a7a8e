#!/usr/bin/env bash
# An XRootD server on 127.0.0.1 for the workflow's remote-read tests.
#
#   bash tests/services/xrootd.sh start   # serve $XROOTD_DATA on port 1094
#   bash tests/services/xrootd.sh stop    # stop the server it started
#   bash tests/services/xrootd.sh status
#   bash tests/services/xrootd.sh exec CMD...   # run CMD beside the server
#   bash tests/services/xrootd.sh down    # stop, and remove the namespace
#
# XRootD 5.5 cannot bind to 127.0.0.1 alone, so the server runs in a network
# namespace (topxsec-xrd) whose only interface is the loopback one: nothing
# outside this machine, nor outside the namespace, can reach it. Clients run
# in the same namespace (`exec`) and read root://127.0.0.1:1094//<path below
# $XROOTD_DATA>. Needs root, iproute2 and Debian's xrootd-server and
# xrootd-client. The server runs as user xrootd (it refuses root), so the
# served files and their parent directories must be readable by it.
set -euo pipefail

state=${XROOTD_STATE:-/tmp/topxsec-xrootd}
data=${XROOTD_DATA:-$state/data}
netns=${XROOTD_NETNS:-topxsec-xrd}
port=${XROOTD_PORT:-1094}
action=${1:-status}

running() {
    [ -s "$state/xrootd.pid" ] && kill -0 "$(cat "$state/xrootd.pid")" 2>/dev/null
}

ensure_netns() {
    ip netns list | grep -qw "$netns" || ip netns add "$netns"
    ip netns exec "$netns" ip link set lo up
}

start() {
    for tool in xrootd xrdfs ip; do
        command -v "$tool" > /dev/null || {
            echo "xrootd.sh: $tool not found; apt-get install xrootd-server" \
                "xrootd-client iproute2" >&2
            exit 1
        }
    done
    if running; then
        echo "xrootd.sh: already running ($(cat "$state/xrootd.pid"))"
        return
    fi
    mkdir -p "$state/admin" "$data"
    chmod 755 "$state" "$data"
    chown xrootd "$state/admin" 2>/dev/null || chmod 777 "$state/admin"
    cat > "$state/xrootd.cfg" <<CFG
all.role server
xrd.port $port
xrd.allow host localhost
xrd.allow host 127.0.0.1
all.export /
oss.localroot $data
all.adminpath $state/admin
all.pidpath $state/admin
CFG
    ensure_netns
    # `ip netns exec` execs xrootd in place: $! is the server's PID.
    (cd "$state/admin" && exec ip netns exec "$netns" xrootd -R xrootd \
        -c "$state/xrootd.cfg" -l "$state/admin/xrootd.log" < /dev/null \
        > "$state/stdout.log" 2>&1) &
    echo $! > "$state/xrootd.pid"
    for _ in $(seq 100); do
        if ip netns exec "$netns" timeout 5 xrdfs "root://127.0.0.1:$port" \
                query config version > /dev/null 2>&1; then
            echo "xrootd.sh: serving $data at root://127.0.0.1:$port// in" \
                "network namespace $netns"
            return
        fi
        running || break
        sleep 0.1
    done
    echo "xrootd.sh: the server did not answer in 10 s" >&2
    tail -n 20 "$state/stdout.log" "$state/admin/xrootd.log" >&2 2>/dev/null || true
    stop
    exit 1
}

stop() {
    running || { rm -f "$state/xrootd.pid"; return 0; }
    local pid
    pid=$(cat "$state/xrootd.pid")
    kill "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$state/xrootd.pid"
    echo "xrootd.sh: stopped"
}

case $action in
    start) start ;;
    stop) stop ;;
    down) stop; ip netns list | grep -qw "$netns" && ip netns del "$netns"; true ;;
    status) if running; then echo "running ($(cat "$state/xrootd.pid"))"; else
        echo "not running"; exit 3; fi ;;
    exec) shift; ensure_netns; exec ip netns exec "$netns" "$@" ;;
    *) echo "usage: $0 start|stop|status|down|exec CMD..." >&2; exit 2 ;;
esac
