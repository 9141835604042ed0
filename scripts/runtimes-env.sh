#!/usr/bin/env bash
# The Podman and containerd environment of vtrace's runtime tests and walk-through (root).
#
#   scripts/runtimes-env.sh up       install podman, netavark, containerd if missing; build the
#                                    image vtrace-busybox offline in Podman (podman import of a
#                                    busybox rootfs; busybox httpd serves /www on port 80); start
#                                    a containerd of vtrace's own (socket below, log in
#                                    /var/log/vtrace-containerd.log) and import the image into it
#                                    (podman save --format docker-archive | ctr images import)
#   scripts/runtimes-env.sh demo     up, then web-1 and web-2 in Podman on its default network
#   scripts/runtimes-env.sh down     remove the demo's containers; stop containerd if this script
#                                    started it
#   scripts/runtimes-env.sh status   what runs
#   scripts/runtimes-env.sh address  the containerd socket (for CONTAINERD_ADDRESS)
#
# There is no registry here: the only image is the one `up` imports. The containerd has its own
# socket, root and state (/run/vtrace-containerd/containerd.sock, /var/lib/vtrace-containerd,
# /run/vtrace-containerd/state) and its CRI plugin off, so it never meets the containerd dockerd
# runs for Docker (dockerd would adopt one on the default socket): tell vtrace and ctr where it
# is with `export CONTAINERD_ADDRESS=$(scripts/runtimes-env.sh address)`. Podman's bridge
# (podman0) lives in the root namespace; `up` fails if the root namespace's FORWARD policy is
# DROP afterwards, since bridges other tools build there would stop forwarding.
# This sandbox refuses Podman's default rlimits: containers take
# --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 (PODMAN_ULIMITS below).
set -euo pipefail

IMAGE=vtrace-busybox
CTR_IMAGE=localhost/vtrace-busybox:latest
DIR=/run/vtrace-containerd
SOCK=$DIR/containerd.sock
ROOT=/var/lib/vtrace-containerd
CONFIG=$DIR/config.toml
LOG=/var/log/vtrace-containerd.log
PIDFILE=$DIR/containerd.pid
# Present while a containerd this script started runs (so `down` stops only that one).
STARTED=$DIR/started
LABEL=vtrace.env=demo
PODMAN_ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

say() { echo "runtimes-env: $*" >&2; }
die() {
    say "$*"
    exit 2
}

ctr_() { ctr --address "$SOCK" --connect-timeout 5s "$@"; }
alive() { [[ -S $SOCK ]] && ctr --address "$SOCK" --connect-timeout 2s version >/dev/null 2>&1; }

# True when PID is a live containerd (not gone, not a zombie left by a kill).
is_containerd() {
    [[ -n ${1:-} && $(cat "/proc/$1/comm" 2>/dev/null) == containerd ]] &&
        [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

install() {
    local missing=() p
    for p in podman netavark containerd runc busybox; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: run as root (apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

check_forward() {
    local policy
    policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
    if [[ $policy == DROP ]]; then
        die "the root namespace's FORWARD policy is DROP: bridges in the root namespace would \
stop forwarding; \`iptables -P FORWARD ACCEPT\` restores it"
    fi
}

# A busybox rootfs as a tar stream on stdout (a dynamically linked busybox takes its libraries).
rootfs_tar() {
    local bb rootfs lib applet
    bb=${BUSYBOX:-$(command -v busybox || true)}
    [[ -n $bb && -x $bb ]] || die "busybox is needed for the image: apt-get install busybox"
    rootfs=$(mktemp -d)
    chmod 755 "$rootfs"
    mkdir -p "$rootfs"/{bin,www,tmp,etc}
    cp "$bb" "$rootfs/bin/busybox"
    if ldd "$bb" >/dev/null 2>&1; then
        for lib in $(ldd "$bb" | grep -o '/[^ ]*'); do
            mkdir -p "$rootfs$(dirname "$lib")"
            cp -L "$lib" "$rootfs$lib"
        done
    fi
    for applet in $("$bb" --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
    done
    echo "vtrace busybox httpd" >"$rootfs/www/index.html"
    echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
    tar -C "$rootfs" -c .
    rm -rf "$rootfs"
}

podman_image() {
    podman image exists "$IMAGE" && return
    rootfs_tar | podman import --change 'ENV PATH=/bin' \
        --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' \
        --change 'EXPOSE 80' - "$IMAGE" >/dev/null
    say "built image $IMAGE in Podman"
}

start_containerd() {
    alive && return
    [[ $(id -u) -eq 0 ]] || die "containerd is not running: run as root to start it"
    mkdir -p "$DIR" "$ROOT" "$(dirname "$LOG")"
    rm -f "$STARTED"
    if [[ -f $PIDFILE ]] && is_containerd "$(cat "$PIDFILE")"; then
        kill "$(cat "$PIDFILE")" || true
        sleep 0.5
    fi
    rm -f "$SOCK" "$PIDFILE"
    cat >"$CONFIG" <<EOF
version = 2
root = "$ROOT"
state = "$DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$DIR/containerd.sock.ttrpc"
[debug]
  address = "$DIR/debug.sock"
EOF
    say "starting containerd (socket $SOCK, log: $LOG)"
    setsid containerd --config "$CONFIG" >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local i
    for ((i = 0; i < 300; i++)); do
        alive && break
        sleep 0.1
    done
    alive || {
        tail -n 20 "$LOG" >&2 || true
        die "containerd did not answer on $SOCK within 30 s (see $LOG)"
    }
    touch "$STARTED"
}

ctr_image() {
    local ns
    for ns in default k8s.io; do
        ctr_ -n "$ns" images ls -q | grep -qx "$CTR_IMAGE" && continue
        podman save --format docker-archive "$IMAGE" | ctr_ -n "$ns" images import - >/dev/null
        say "imported $CTR_IMAGE into containerd namespace $ns"
    done
}

up() {
    install
    sysctl -qw net.ipv4.ip_forward=1
    podman_image
    check_forward
    start_containerd
    ctr_image
}

demo() {
    up
    local c
    for c in web-1 web-2; do
        podman rm -f -t 0 "$c" >/dev/null 2>&1 || true
        podman run -d --name "$c" --label "$LABEL" "${PODMAN_ULIMITS[@]}" "$IMAGE" >/dev/null
    done
    check_forward
    podman ps --filter "label=$LABEL" --format '{{.Names}}\t{{.Networks}}\t{{.ID}}'
}

down() {
    if command -v podman >/dev/null; then
        local ids
        ids=$(podman ps -aq --filter "label=$LABEL" 2>/dev/null || true)
        [[ -z $ids ]] || podman rm -f -t 0 $ids >/dev/null
    fi
    if [[ -f $STARTED && -f $PIDFILE ]]; then
        local pid
        pid=$(cat "$PIDFILE")
        if is_containerd "$pid"; then
            kill "$pid"
            local i
            for ((i = 0; i < 100; i++)); do
                is_containerd "$pid" || break
                sleep 0.1
            done
            say "stopped containerd"
        fi
    fi
    rm -f "$STARTED"
}

status() {
    if command -v podman >/dev/null; then
        echo "podman $(podman version --format '{{.Client.Version}}')"
        podman ps --format '{{.Names}}\t{{.Networks}}\t{{.Status}}'
    else
        echo "podman is not installed"
    fi
    if alive; then
        echo "containerd on $SOCK"
        local ns
        for ns in $(ctr_ namespaces ls -q); do
            ctr_ -n "$ns" tasks ls | sed "1d; s|^|$ns/|"
        done
    else
        echo "containerd is not running on $SOCK"
    fi
    echo "FORWARD policy: $(iptables -S FORWARD | awk '$1 == "-P" { print $3 }')"
}

case "${1:-}" in
up) up ;;
demo) demo ;;
down) down ;;
status) status ;;
address) echo "$SOCK" ;;
*)
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
