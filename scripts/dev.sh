#!/usr/bin/env bash
# vtrace developer entry point: installs what is missing, builds, runs.
#
#   scripts/dev.sh demo    build and run vtrace's main job: `vtrace demo` on the built-in lab
#   scripts/dev.sh test    build and run every test (as root: the lab tests too, after loading
#                          br_netfilter and mounting tracefs when they are missing)
#   scripts/dev.sh lint    rustfmt --check and clippy -D warnings
#   scripts/dev.sh deps    only install the system packages
#
# Works on a fresh Debian machine with Rust, as root (packages are installed with apt-get).
# From a normal account: sudo env "PATH=$PATH" "HOME=$HOME" scripts/dev.sh test
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libpcap-dev iproute2 nftables iptables iputils-ping tcpdump tshark busybox kmod procps tmux python3)
# The Docker tests' daemon (tests/docker.rs; scripts/docker-env.sh starts it).
PACKAGES+=(docker.io)
# The other runtimes' tests (tests/runtimes.rs; scripts/runtimes-env.sh starts containerd and
# builds the images): Podman with netavark, containerd with runc.
PACKAGES+=(podman netavark containerd runc)

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if [[ $(id -u) -ne 0 ]]; then
            echo "dev.sh: missing packages ${missing[*]}: run as root (or apt-get install them)" >&2
            exit 2
        fi
        echo "dev.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# What the root tests need of the machine besides packages; under CI (`CI` set) a test whose
# precondition is missing fails, elsewhere it skips with a notice.
prepare() {
    # br_netfilter: bridged frames meet iptables (the FORWARD-drop tests of ping and netfilter).
    if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
        modprobe br_netfilter ||
            echo "dev.sh: modprobe br_netfilter failed: the br_netfilter tests cannot run" >&2
    fi
    # tracefs: kernel drop reasons (the netfilter and kills tests).
    if [[ ! -d /sys/kernel/tracing/instances ]]; then
        mount -t tracefs tracefs /sys/kernel/tracing ||
            echo "dev.sh: mounting tracefs at /sys/kernel/tracing failed: no drop reasons" >&2
    fi
    # An HTTP server for `vtrace lab up --serve` (tests/lab.rs): busybox's httpd applet.
    busybox --list 2>/dev/null | grep -x httpd >/dev/null ||
        echo "dev.sh: busybox has no httpd applet: the --serve test cannot run" >&2
}

case "${1:-}" in
deps) deps ;;
demo)
    deps
    cargo build --release --quiet
    # The main job: build the lab, trace ping nginx-1 → nginx-2 hop by hop (interactive on a
    # terminal, text otherwise), remove the lab.
    exec target/release/vtrace demo "${@:2}"
    ;;
test)
    deps
    if [[ $(id -u) -eq 0 ]]; then
        prepare
        # dockerd for tests/docker.rs (which skip, saying why, when it cannot start).
        scripts/docker-env.sh up || echo "dev.sh: dockerd did not start: the Docker tests skip" >&2
        # Podman's image and vtrace's own containerd for tests/runtimes.rs (after dockerd: it
        # runs a containerd of its own, on another socket).
        scripts/runtimes-env.sh up ||
            echo "dev.sh: Podman or containerd is not ready: the runtime tests skip" >&2
        cargo test --features root-tests
    else
        echo "dev.sh: not root: running the tests that need no privileges" >&2
        cargo test
    fi
    ;;
lint)
    cargo fmt --check
    cargo clippy --all-targets --features root-tests -- -D warnings
    # Imports go one way (core ← sys ← session ← report/tui ← cmd ← cli), only cli knows clap.
    cargo test --quiet --test layers
    ;;
*)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
