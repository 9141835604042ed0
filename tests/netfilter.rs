//! Root tests of the netfilter trace machinery against the real kernel: vtrace's trace table,
//! trace events received and decoded per namespace, rule text by handle, the netfilter-drop
//! rule, kernel drop reasons from tracefs, and `vtrace cleanup`.
//!
//! Each test builds its own bridge topology with iproute2 in namespaces named with the process
//! id (`nf<pid><tag>-{a,h,b}`: client, host with a bridge, target) and a guard removes them
//! however the test ends. Run as root: `cargo test --features root-tests --test netfilter`.
#![cfg(feature = "root-tests")]

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use vtrace::core::netfilter::{NfEvent, NfFamily, NfVerdict, TraceKind, find_drop};
use vtrace::sys::netns::Netns;
use vtrace::sys::nft::{Flow, RuleIndex, TraceTable, br_netfilter, list_tables};
use vtrace::sys::nftrace::TraceListener;

use common::require;

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
const A_IP: &str = "10.77.0.1";
const B_IP: &str = "10.77.0.2";

fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) {
    let out = sh(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three namespaces: `a` (10.77.0.1) ── `h` (bridge br0) ── `b` (10.77.0.2). Dropping it
/// deletes them, which also removes every table and link inside.
struct Topo {
    a: String,
    h: String,
    b: String,
}

impl Topo {
    fn new(tag: &str) -> Topo {
        let p = format!("nf{}{tag}", std::process::id());
        let t = Topo { a: format!("{p}-a"), h: format!("{p}-h"), b: format!("{p}-b") };
        for ns in [&t.a, &t.h, &t.b] {
            ok("ip", &["netns", "add", ns]);
        }
        for (end, ns, ip) in [("va", &t.a, A_IP), ("vb", &t.b, B_IP)] {
            ok(
                "ip",
                &[
                    "-n", &t.h, "link", "add", end, "type", "veth", "peer", "name", "eth0",
                    "netns", ns,
                ],
            );
            ok("ip", &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            ok("ip", &["-n", ns, "link", "set", "eth0", "up"]);
            ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        ok("ip", &["-n", &t.h, "link", "add", "br0", "type", "bridge"]);
        for dev in ["va", "vb"] {
            ok("ip", &["-n", &t.h, "link", "set", dev, "master", "br0", "up"]);
        }
        ok("ip", &["-n", &t.h, "link", "set", "br0", "up"]);
        // The first ping after the links come up can be lost; start from a working topology.
        assert!((0..10).any(|_| t.ping()), "the fresh topology {} never answered ping", t.h);
        t
    }

    fn netns(name: &str) -> Netns {
        Netns::named(name).unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn exec(&self, ns: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["netns", "exec", ns];
        args.extend_from_slice(cmd);
        sh("ip", &args)
    }

    fn ping(&self) -> bool {
        self.exec(&self.a, &["ping", "-c", "1", "-W", "1", B_IP]).status.success()
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in [&self.a, &self.h, &self.b] {
            let _ = sh("ip", &["netns", "del", ns]);
        }
    }
}

fn flow() -> Flow {
    Flow {
        a: A_IP.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
        b: B_IP.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
        tunnel: None,
    }
}

/// Trace table + listener in one namespace.
fn trace(ns: &str) -> (TraceTable, TraceListener) {
    let netns = Topo::netns(ns);
    let listener =
        TraceListener::start(&netns, ns).unwrap_or_else(|e| panic!("listen in {ns}: {e}"));
    let table =
        TraceTable::install(&netns, flow()).unwrap_or_else(|e| panic!("install in {ns}: {e}"));
    (table, listener)
}

/// Events a listener got within a short while after the traffic.
fn collect(l: &TraceListener) -> Vec<NfEvent> {
    std::thread::sleep(Duration::from_millis(300));
    let evs = l.drain();
    assert!(l.errors().is_empty(), "undecodable trace messages: {:?}", l.errors());
    evs
}

fn vtrace_tables(ns: &str) -> Vec<(String, String)> {
    list_tables(&Topo::netns(ns))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|(_, t)| t.starts_with("vtrace_"))
        .collect()
}

/// One empty namespace, deleted (with every table in it) however the test ends.
struct Scratch(String);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let name = format!("nf{}{tag}", std::process::id());
        ok("ip", &["netns", "add", &name]);
        Scratch(name)
    }

    fn ruleset(&self) -> String {
        let out = sh("ip", &["netns", "exec", &self.0, "nft", "list", "ruleset"]);
        assert!(out.status.success(), "nft list ruleset: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = sh("ip", &["netns", "del", &self.0]);
    }
}

/// The trace table is written over netlink: nft must read back exactly the script's rules (the
/// expressions are nft's own, so it prints them as the text they came from), for IPv4 with a
/// tunnel (UDP port, ARP) and for IPv6; removing it leaves an empty ruleset (also when one
/// family's table is gone already), and so does its guard.
#[test]
fn the_trace_table_written_over_netlink_lists_as_its_script() {
    let ns = Scratch::new("tt");
    let netns = Topo::netns(&ns.0);
    let tunnelled = Flow {
        tunnel: Some(vtrace::sys::nft::Tunnel {
            a: "192.168.5.1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            b: "192.168.5.2".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            port: 4789,
        }),
        ..flow()
    };
    let v6 = Flow {
        a: "fd00:77::1".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST.into()),
        b: "fd00:77::2".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST.into()),
        tunnel: None,
    };
    for f in [tunnelled, v6] {
        let table = TraceTable::install(&netns, f).unwrap_or_else(|e| panic!("install: {e}"));
        let expected = vtrace::sys::nft::script(table.name(), f);
        assert_eq!(ns.ruleset(), expected);
        assert_eq!(expected.matches("meta nftrace set 1").count(), if f == v6 { 6 } else { 14 });
        table.remove().unwrap_or_else(|e| panic!("remove: {e}"));
        assert_eq!(ns.ruleset(), "");
    }
    // A family whose table is already gone does not keep the other from being removed.
    let half = TraceTable::install(&netns, flow()).unwrap_or_else(|e| panic!("install: {e}"));
    ok("ip", &["netns", "exec", &ns.0, "nft", "delete", "table", "inet", half.name()]);
    assert!(ns.ruleset().starts_with(&format!("table bridge {}", half.name())));
    half.remove().unwrap_or_else(|e| panic!("remove with inet gone: {e}"));
    assert_eq!(ns.ruleset(), "");
    let dropped = TraceTable::install(&netns, flow()).unwrap_or_else(|e| panic!("install: {e}"));
    assert!(ns.ruleset().contains(dropped.name()));
    drop(dropped);
    assert_eq!(ns.ruleset(), "");
}

#[test]
fn a_healthy_ping_is_traced_in_every_namespace_with_accept_verdicts() {
    let t = Topo::new("ok");
    let traced: Vec<_> = [&t.a, &t.h, &t.b].map(|ns| trace(ns)).into_iter().collect();
    assert!(t.ping(), "the healthy topology answers ping");
    for (table, listener) in &traced {
        let evs = collect(listener);
        let ns = listener_ns(&evs);
        let own: Vec<&NfEvent> = evs.iter().filter(|e| e.table == table.name()).collect();
        assert!(!own.is_empty(), "no trace events of {} in {ns}: {evs:?}", table.name());
        assert!(evs.iter().all(|e| !e.is_drop()), "a drop in a healthy run: {evs:?}");
        let policies: Vec<&&NfEvent> =
            own.iter().filter(|e| e.kind == Some(TraceKind::Policy)).collect();
        assert!(policies.iter().all(|e| e.policy == Some(NfVerdict::Accept)), "{policies:?}");
        // The echo request and its reply both carry the packet's headers.
        let keys: Vec<_> = own.iter().filter_map(|e| e.key()).collect();
        assert!(keys.iter().any(|k| k.src.to_string() == A_IP && k.echo.is_some()), "{keys:?}");
        assert!(keys.iter().any(|k| k.src.to_string() == B_IP && k.echo.is_some()), "{keys:?}");
    }
    let names: Vec<String> = traced.iter().map(|(tb, _)| tb.name().to_owned()).collect();
    drop(traced);
    for ns in [&t.a, &t.h, &t.b] {
        assert_eq!(vtrace_tables(ns), Vec::<(String, String)>::new(), "left in {ns} ({names:?})");
    }
}

fn listener_ns(evs: &[NfEvent]) -> String {
    evs.first().map(|e| e.netns.clone()).unwrap_or_default()
}

#[test]
fn bridged_frames_are_traced_in_the_bridge_family_with_port_names() {
    let t = Topo::new("br");
    let (table, listener) = trace(&t.h);
    assert!(t.ping());
    let evs = collect(&listener);
    let bridge: Vec<&NfEvent> = evs
        .iter()
        .filter(|e| e.family == Some(NfFamily::Bridge) && e.table == table.name())
        .collect();
    assert!(!bridge.is_empty(), "no bridge-family events: {evs:?}");
    let iifs: Vec<Option<&str>> = bridge.iter().map(|e| e.iif_name.as_deref()).collect();
    assert!(iifs.contains(&Some("va")) && iifs.contains(&Some("vb")), "{iifs:?}");
}

#[test]
fn an_nftables_input_drop_at_the_target_names_the_rule_and_the_kernel_reason() {
    let t = Topo::new("in");
    let rules = "table inet t {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ticmp type echo-request drop\n\t}\n}\n";
    let out = Command::new("ip")
        .args(["netns", "exec", &t.b, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            if let Some(mut i) = c.stdin.take() {
                i.write_all(rules.as_bytes())?;
            }
            c.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("nft: {e}"));
    assert!(out.status.success());
    let monitor = vtrace::sys::dropmon::DropMonitor::start(&[0x0800]);
    let (_table, listener) = trace(&t.b);
    let before = now_ns();
    assert!(!t.ping(), "the target drops echo requests");
    let after = now_ns();
    let mut evs = collect(&listener);
    let index = RuleIndex::load(&Topo::netns(&t.b)).unwrap_or_else(|e| panic!("{e}"));
    for e in &mut evs {
        index.annotate(e);
    }
    let drop = evs.iter().find(|e| e.is_drop()).unwrap_or_else(|| panic!("no drop event: {evs:?}"));
    assert_eq!(
        (drop.family, drop.table.as_str(), drop.chain.as_str()),
        (Some(NfFamily::Inet), "t", "input")
    );
    assert_eq!(drop.rule_text.as_deref(), Some("icmp type echo-request drop"));
    let refs: Vec<&NfEvent> = evs.iter().collect();
    let d = find_drop(&refs, &[t.b.as_str()], &[]).unwrap_or_else(|| panic!("no netfilter-drop"));
    assert_eq!(
        d.summary(),
        format!(
            "dropped by netfilter in {}: inet t input, rule `icmp type echo-request drop`",
            t.b
        )
    );
    assert_eq!(d.hint(), format!("ip netns exec {} nft -a list chain inet t input", t.b));
    match monitor {
        Ok(m) => {
            let dir = m.dir().to_path_buf();
            std::thread::sleep(Duration::from_millis(200));
            // Named where shown: the monitor reads bare addresses.
            let drops: Vec<_> = m
                .stop()
                .into_iter()
                .map(|mut d| {
                    d.name_location();
                    d
                })
                .collect();
            let nf: Vec<_> =
                vtrace::core::netfilter::drops_between(&drops, 0x0800, before, after + 200_000_000)
                    .into_iter()
                    .filter(|d| d.reason == "NETFILTER_DROP")
                    .collect();
            assert!(
                !nf.is_empty(),
                "no NETFILTER_DROP kfree_skb between {before} and {after}: {drops:?}"
            );
            assert!(nf.iter().all(|d| d.location.starts_with("nft_do_chain+")), "{nf:?}");
            assert!(!dir.exists(), "tracefs instance {} left", dir.display());
        }
        Err(e) => {
            require(&format!("kernel drop reasons from tracefs ({e})"), false);
        }
    }
}

#[test]
fn iptables_forward_policy_drop_on_a_bridge_with_br_netfilter_names_the_policy() {
    let t = Topo::new("fw");
    let sysctl = t.exec(&t.h, &["sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1"]);
    if !require("br_netfilter (modprobe br_netfilter)", sysctl.status.success()) {
        return;
    }
    assert!(t.exec(&t.h, &["iptables-nft", "-P", "FORWARD", "DROP"]).status.success());
    let (_table, listener) = trace(&t.h);
    assert!(!t.ping(), "FORWARD policy DROP stops bridged pings");
    let evs = collect(&listener);
    let refs: Vec<&NfEvent> = evs.iter().collect();
    let brnf = br_netfilter(&Topo::netns(&t.h));
    assert_eq!(brnf.call_iptables, Some(true));
    let d = find_drop(&refs, &[t.h.as_str(), t.b.as_str()], &[(t.h.as_str(), brnf)])
        .unwrap_or_else(|| panic!("no drop: {evs:?}"));
    assert_eq!(
        (d.family, d.table.as_str(), d.chain.as_str(), d.rule.as_deref()),
        (NfFamily::Ip, "filter", "FORWARD", None)
    );
    assert!(d.via_br_netfilter);
    assert!(
        d.summary().contains("ip filter FORWARD, policy drop; bridged frames meet iptables"),
        "{}",
        d.summary()
    );
}

#[test]
fn cleanup_removes_the_table_and_tracefs_instance_of_a_killed_run() {
    let t = Topo::new("cl");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.h,
            "sh",
            "-c",
            "nft add table inet vtrace_$$_0 && echo ok && exec sleep 60",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = child.id();
    // Wait for the table, then SIGKILL the helper.
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        use std::io::BufRead;
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    assert_eq!(line.trim(), "ok");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(vtrace_tables(&t.h), vec![("inet".to_owned(), format!("vtrace_{pid}_0"))]);
    let instance = vtrace::sys::dropmon::ensure_tracefs()
        .ok()
        .map(|d| d.join(vtrace::sys::dropmon::instance_name(pid, 0)))
        .filter(|d| std::fs::create_dir(d).is_ok());
    // Without tracefs the killed run's instance cannot be made, nor its removal checked.
    require("tracefs instances (tracefs at /sys/kernel/tracing)", instance.is_some());
    // A live run's table (this process's) must survive.
    let own = TraceTable::install(&Topo::netns(&t.h), flow()).unwrap_or_else(|e| panic!("{e}"));
    // pid_max can be as low as 32768: on a busy machine another process may already have taken
    // the killed helper's pid, and then its table rightly counts as a live run's.
    let reused = std::path::Path::new(&format!("/proc/{pid}")).exists();
    let out = sh(BIN, &["cleanup"]);
    assert!(out.status.success(), "vtrace cleanup: {}", String::from_utf8_lossy(&out.stderr));
    if reused {
        eprintln!("SKIPPED the removal checks: pid {pid} was reused before cleanup ran");
        if let Some(dir) = &instance {
            let _ = std::fs::remove_dir(dir);
        }
        assert!(vtrace_tables(&t.h).iter().any(|(_, n)| n == own.name()));
        return;
    }
    let left = vtrace_tables(&t.h);
    assert_eq!(left.len(), 2, "{left:?}"); // inet and bridge of the live table
    assert!(left.iter().all(|(_, n)| n == own.name()), "{left:?}");
    if let Some(dir) = instance {
        assert!(!dir.exists(), "tracefs instance {} left", dir.display());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("vtrace_{pid}_0")), "{text}");
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn a_session_traces_every_namespace_and_leaves_nothing_behind() {
    use vtrace::sys::dropmon::Starting;
    use vtrace::sys::nftrace::{DROP_PROTOCOLS, NfSession, Options};
    let t = Topo::new("se");
    let namespaces: Vec<(String, Netns)> =
        [&t.a, &t.h, &t.b].iter().map(|n| ((*n).clone(), Topo::netns(n))).collect();
    let opts = Options { netfilter: true, drop_reasons: true };
    let started = std::time::Instant::now();
    // The drop monitor begun ahead, as ping and watch begin it.
    let early = Starting::begin(&DROP_PROTOCOLS);
    let (session, notes) = NfSession::start(&namespaces, flow(), opts, Some(early));
    let start_ms = started.elapsed().as_millis();
    assert!(notes.iter().all(|n| n.starts_with("no kernel drop reasons")), "{notes:?}");
    // Without them the session goes on, but the check of its tracefs instance below is void.
    require(&format!("kernel drop reasons from tracefs ({notes:?})"), notes.is_empty());
    assert!(t.ping());
    std::thread::sleep(Duration::from_millis(100));
    let stopping = std::time::Instant::now();
    let done = session.finish();
    let finish_ms = stopping.elapsed().as_millis();
    eprintln!("netfilter session on 3 namespaces: start {start_ms} ms, finish {finish_ms} ms");
    for ns in [&t.a, &t.h, &t.b] {
        let read = done.events_read.iter().find(|(label, _)| label == ns).map(|(_, n)| *n);
        // The echo request and its reply at least, at vtrace's own rule.
        assert!(read.is_some_and(|n| n >= 2), "{ns} read {read:?} events");
        assert_eq!(vtrace_tables(ns), Vec::<(String, String)>::new(), "left in {ns}");
    }
    // The namespaces have no rules of their own: vtrace's own table decides nothing, and its
    // events, read to lend their headers, are not passed on.
    assert!(
        done.events.iter().all(|e| !vtrace::core::netfilter::is_own_table(&e.table)),
        "{:?}",
        done.events
    );
    assert_eq!(done.events_read.len(), 3);
    assert_eq!(done.br_netfilter.len(), 3);
    let own = format!("vtrace_{}_", std::process::id());
    let instances = std::fs::read_dir("/sys/kernel/tracing/instances").into_iter().flatten();
    let left: Vec<String> = instances
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&own))
        .collect();
    // Another test of this process may hold a monitor right now; none may be this session's.
    assert!(left.len() <= 1, "{left:?}");
}

/// A drop monitor begun ahead and never used (the trace failed before it started) removes its
/// tracefs instance when dropped, once made.
#[test]
fn a_drop_monitor_begun_and_dropped_unused_leaves_no_instance() {
    use vtrace::sys::dropmon::Starting;
    use vtrace::sys::nftrace::DROP_PROTOCOLS;
    let early = Starting::begin(&DROP_PROTOCOLS);
    let dir = early.dir().to_owned();
    let made = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        dir.exists()
    });
    if !require("tracefs instances (tracefs at /sys/kernel/tracing)", made) {
        return;
    }
    drop(early);
    assert!(!dir.exists(), "tracefs instance {} left", dir.display());
}

/// `ping` run as root reads its replies on a raw socket, and the kernel then frees each one in
/// `ping_rcv` as NO_SOCKET (no ICMP datagram socket asked for it): the drop monitor has the
/// kernel leave those out, where they were 120 000 events a second under `ping -f`.
#[test]
fn the_drop_monitor_leaves_out_echo_replies_nobody_asked_for() {
    let t = Topo::new("nr");
    let monitor = match vtrace::sys::dropmon::DropMonitor::start(&[0x0800]) {
        Ok(m) => m,
        Err(e) => {
            require(&format!("kernel drop reasons from tracefs ({e})"), false);
            return;
        }
    };
    if !require(
        "a kernel that filters trace events on a function (location.function)",
        monitor.skips_unclaimed_replies(),
    ) {
        return;
    }
    for _ in 0..5 {
        assert!(t.ping(), "the healthy topology answers ping");
    }
    std::thread::sleep(Duration::from_millis(200));
    let drops = monitor.stop();
    let replies: Vec<_> = drops.iter().filter(|d| d.is_unclaimed_echo_reply()).collect();
    assert!(replies.is_empty(), "{replies:?}");
}
