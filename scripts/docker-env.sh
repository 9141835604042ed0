#!/usr/bin/env bash
# The Docker environment of vtrace's Docker tests and walk-through (root).
#
#   scripts/docker-env.sh up          install docker.io if missing, start dockerd (vfs storage,
#                                     log in /var/log/vtrace-dockerd.log), build the image
#                                     vtrace-busybox offline (docker import of a busybox-static
#                                     rootfs; busybox httpd serves /www on port 80)
#   scripts/docker-env.sh demo [NET]  up, then run nginx-1 and nginx-2 on the default bridge, or on
#                                     NET (a user-defined network, 172.18.0.0/16, made if missing)
#   scripts/docker-env.sh down        remove the demo's containers and network; stop dockerd if
#                                     this script started it
#   scripts/docker-env.sh status      what runs
#
# There is no registry here: the only image is the one `up` imports. Before dockerd starts,
# net.ipv4.ip_forward is set to 1, so dockerd leaves the FORWARD policy at ACCEPT (it sets DROP
# only when it had to turn forwarding on itself); `up` fails if the policy is DROP afterwards,
# since bridges other tools build in the root namespace would then stop forwarding.
set -euo pipefail

IMAGE=vtrace-busybox
LOG=/var/log/vtrace-dockerd.log
PIDFILE=/run/vtrace-dockerd.pid
# Present while a dockerd this script started runs (so `down` stops only that one).
STARTED=/run/vtrace-dockerd.started
SOCK=/var/run/docker.sock
DEMO_NET=vtrace-net
DEMO_SUBNET=172.18.0.0/16
LABEL=vtrace.env=demo

say() { echo "docker-env: $*" >&2; }
die() {
    say "$*"
    exit 2
}

alive() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# True when PID is a live dockerd (not gone, not a zombie left by a kill).
is_dockerd() {
    [[ -n ${1:-} && $(cat "/proc/$1/comm" 2>/dev/null) == dockerd ]] &&
        [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

install() {
    command -v dockerd >/dev/null && return
    [[ $(id -u) -eq 0 ]] || die "dockerd is missing: run as root (apt-get install docker.io)"
    say "installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
}

start() {
    if alive; then
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "dockerd is not running: run as root to start it"
    command -v dockerd >/dev/null || die "dockerd is not installed"
    rm -f "$STARTED"
    # A pidfile left by a dockerd that was killed would stop the new one.
    if [[ -f $PIDFILE ]] && ! is_dockerd "$(cat "$PIDFILE")"; then
        rm -f "$PIDFILE"
    fi
    # Forwarding on before dockerd: it then keeps FORWARD at ACCEPT.
    sysctl -qw net.ipv4.ip_forward=1
    mkdir -p "$(dirname "$LOG")"
    say "starting dockerd (log: $LOG)"
    # containerd is started by dockerd itself when it is not running.
    setsid dockerd --storage-driver vfs --host "unix://$SOCK" --pidfile "$PIDFILE" \
        >>"$LOG" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 300; i++)); do
        alive && break
        sleep 0.1
    done
    alive || {
        tail -n 20 "$LOG" >&2 || true
        die "dockerd did not answer on $SOCK within 30 s (see $LOG)"
    }
    touch "$STARTED"
}

check_forward() {
    local policy
    policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
    if [[ $policy == DROP ]]; then
        die "the root namespace's FORWARD policy is DROP (dockerd set it: was ip_forward 0?): \
bridges in the root namespace would stop forwarding; \`iptables -P FORWARD ACCEPT\` restores it"
    fi
}

image() {
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        return
    fi
    local bb rootfs lib
    bb=${BUSYBOX:-$(command -v busybox || true)}
    [[ -n $bb && -x $bb ]] || die "busybox is needed for the image: apt-get install busybox (or busybox-static)"
    rootfs=$(mktemp -d)
    chmod 755 "$rootfs"
    mkdir -p "$rootfs"/{bin,www,tmp,etc}
    cp "$bb" "$rootfs/bin/busybox"
    # A dynamically linked busybox (Debian's `busybox`) takes its libraries along.
    if ldd "$bb" >/dev/null 2>&1; then
        for lib in $(ldd "$bb" | grep -o '/[^ ]*'); do
            mkdir -p "$rootfs$(dirname "$lib")"
            cp -L "$lib" "$rootfs$lib"
        done
    fi
    local applet
    for applet in $("$bb" --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
    done
    echo "vtrace busybox httpd" >"$rootfs/www/index.html"
    echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
    tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/bin' \
        --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' \
        --change 'EXPOSE 80' - "$IMAGE" >/dev/null
    rm -rf "$rootfs"
    say "built image $IMAGE"
}

up() {
    install
    start
    check_forward
    image
}

demo() {
    up
    local net=${1:-}
    local args=(--label "$LABEL")
    if [[ -n $net ]]; then
        docker network inspect "$net" >/dev/null 2>&1 ||
            docker network create --label "$LABEL" --subnet "$DEMO_SUBNET" "$net" >/dev/null
        args+=(--network "$net")
    fi
    local c
    for c in nginx-1 nginx-2; do
        docker rm -f "$c" >/dev/null 2>&1 || true
        docker run -d --name "$c" "${args[@]}" "$IMAGE" >/dev/null
    done
    docker ps --filter "label=$LABEL" --format '{{.Names}}\t{{.Networks}}\t{{.ID}}'
}

down() {
    if alive; then
        local ids
        ids=$(docker ps -aq --filter "label=$LABEL")
        [[ -z $ids ]] || docker rm -f $ids >/dev/null
        ids=$(docker network ls -q --filter "label=$LABEL")
        [[ -z $ids ]] || docker network rm $ids >/dev/null
    fi
    if [[ -f $STARTED && -f $PIDFILE ]]; then
        local pid
        pid=$(cat "$PIDFILE")
        if is_dockerd "$pid"; then
            kill "$pid"
            local i
            for ((i = 0; i < 100; i++)); do
                is_dockerd "$pid" || break
                sleep 0.1
            done
            say "stopped dockerd"
        fi
    fi
    rm -f "$STARTED"
}

status() {
    if alive; then
        echo "dockerd $(docker version --format '{{.Server.Version}}') on $SOCK"
        echo "FORWARD policy: $(iptables -S FORWARD | awk '$1 == "-P" { print $3 }')"
        docker ps --format '{{.Names}}\t{{.Networks}}\t{{.Status}}'
    else
        echo "dockerd is not running"
    fi
}

case "${1:-}" in
up) up ;;
demo) demo "${2:-}" ;;
down) down ;;
status) status ;;
*)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
