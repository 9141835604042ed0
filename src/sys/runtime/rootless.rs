//! Rootless Podman: a container whose network is a user-mode stack (slirp4netns or pasta) has
//! no host veth and no bridge. Its packets leave through its own interface (`tap0` for
//! slirp4netns) to a process in user space that makes real sockets of them. vtrace captures
//! what it can — the container's interface — and says what the rest of the path is.
//!
//! Reads `/proc` to find the user-mode process serving a container; changes nothing.

use std::path::Path;

use super::podman::Container;

/// The user-mode network of a rootless container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserMode {
    Slirp4netns,
    Pasta,
}

impl UserMode {
    /// From `HostConfig.NetworkMode` (`slirp4netns`, `slirp4netns:port_handler=…`, `pasta`…).
    pub fn of(network_mode: &str) -> Option<UserMode> {
        let mode = network_mode.split(':').next().unwrap_or_default();
        match mode {
            "slirp4netns" => Some(UserMode::Slirp4netns),
            "pasta" => Some(UserMode::Pasta),
            _ => None,
        }
    }

    /// The mode's (and its process's) name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserMode::Slirp4netns => "slirp4netns",
            UserMode::Pasta => "pasta",
        }
    }
}

/// The user-mode process serving a container, as found in `/proc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    pub pid: Option<u32>,
    /// The container's interface it serves (`tap0`), when its command line says.
    pub ifname: Option<String>,
}

/// What a slirp4netns or pasta command line says about the namespace it serves (a path or the
/// pid of a process in it) and the interface it made there.
pub fn parse_cmdline(mode: UserMode, args: &[&str]) -> (Option<String>, Option<String>) {
    let positional: Vec<&str> = {
        let mut out = Vec::new();
        let mut skip = false;
        for a in args.iter().skip(1) {
            if skip {
                skip = false;
                continue;
            }
            if a.starts_with('-') {
                // Options that take their value as the next word.
                let takes = matches!(
                    (mode, *a),
                    (
                        UserMode::Slirp4netns,
                        "-e" | "-r" | "--exit-fd" | "--ready-fd" | "--api-socket" | "-a"
                    ) | (
                        UserMode::Pasta,
                        "--netns"
                            | "-I"
                            | "--ns-ifname"
                            | "-t"
                            | "-u"
                            | "-T"
                            | "-U"
                            | "--pid"
                            | "-P"
                    )
                );
                skip = takes && !a.contains('=');
                continue;
            }
            out.push(*a);
        }
        out
    };
    let value_of = |names: &[&str]| {
        args.iter().enumerate().find_map(|(i, a)| {
            names.iter().find_map(|n| {
                if a == n {
                    args.get(i + 1).map(|v| (*v).to_owned())
                } else {
                    a.strip_prefix(&format!("{n}=")).map(str::to_owned)
                }
            })
        })
    };
    match mode {
        // slirp4netns [OPTION]... PID|PATH [TAPNAME]
        UserMode::Slirp4netns => {
            let target = positional.first().map(|s| (*s).to_owned());
            let tap = positional.get(1).map_or("tap0", |s| s).to_owned();
            (target, Some(tap))
        }
        // pasta [OPTION]... [PID|PATH], or --netns PATH; -I names the namespace's interface.
        UserMode::Pasta => {
            let target =
                value_of(&["--netns"]).or_else(|| positional.last().map(|s| (*s).to_owned()));
            (target, value_of(&["-I", "--ns-ifname"]))
        }
    }
}

/// The slirp4netns or pasta process serving `c` (its command line names the container's
/// sandbox file or process).
pub fn find_process(c: &Container) -> Served {
    let Some(mode) = c.user_mode() else { return Served::default() };
    let Ok(rd) = std::fs::read_dir("/proc") else { return Served::default() };
    let sandbox = c.sandbox_key.as_deref().map(Path::to_string_lossy);
    let pid = c.pid.to_string();
    for entry in rd.filter_map(Result::ok) {
        let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        if comm.trim() != mode.as_str() {
            continue;
        }
        let raw = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        let args: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).collect();
        let (target, ifname) = parse_cmdline(mode, &args);
        let serves = target
            .as_deref()
            .is_some_and(|t| sandbox.as_deref() == Some(t) || (c.pid > 0 && t == pid));
        if serves {
            return Served { pid: Some(p), ifname };
        }
    }
    Served::default()
}

/// What a user should know before tracing a rootless container.
pub fn note(name: &str, mode: UserMode, served: &Served) -> String {
    let iface = match &served.ifname {
        Some(i) => format!("{name}/{i}"),
        None => format!("{name}'s interface"),
    };
    let process = match served.pid {
        Some(pid) => format!("the {} process (pid {pid})", mode.as_str()),
        None => format!("a {} process", mode.as_str()),
    };
    format!(
        "podman:{name} is rootless ({}): no host veth or bridge joins it to the network; its \
         packets leave through {iface} to {process}, a user-mode network stack that turns them \
         into sockets of its own, out of the kernel's path: vtrace traces what it can capture, \
         {iface}",
        mode.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from the slirp4netns Podman 4.3.1 ran for a rootless container.
    const SLIRP: &str = include_str!("../../../tests/data/runtimes/slirp4netns.cmdline");

    #[test]
    fn modes_from_podman_network_modes() {
        assert_eq!(UserMode::of("slirp4netns"), Some(UserMode::Slirp4netns));
        assert_eq!(
            UserMode::of("slirp4netns:port_handler=slirp4netns"),
            Some(UserMode::Slirp4netns)
        );
        assert_eq!(UserMode::of("pasta"), Some(UserMode::Pasta));
        assert_eq!(UserMode::of("bridge"), None);
        assert_eq!(UserMode::of("host"), None);
        assert_eq!(UserMode::of(""), None);
    }

    #[test]
    fn command_lines_name_the_namespace_and_interface() {
        let args: Vec<&str> = SLIRP.split_whitespace().collect();
        assert_eq!(
            parse_cmdline(UserMode::Slirp4netns, &args),
            (
                Some("/tmp/vtr-run/netns/netns-d619b099-f35e-94c9-cf1f-cafbddd63001".into()),
                Some("tap0".into())
            )
        );
        let by_pid = ["slirp4netns", "--configure", "--mtu=65520", "4242", "tap1"];
        assert_eq!(
            parse_cmdline(UserMode::Slirp4netns, &by_pid),
            (Some("4242".into()), Some("tap1".into()))
        );
        let pasta =
            ["/usr/bin/pasta", "--config-net", "-t", "8080", "--netns", "/run/user/1000/netns/x"];
        assert_eq!(
            parse_cmdline(UserMode::Pasta, &pasta),
            (Some("/run/user/1000/netns/x".into()), None)
        );
        let pasta = ["pasta", "-I", "eth0", "--netns=/run/n", "--quiet"];
        assert_eq!(
            parse_cmdline(UserMode::Pasta, &pasta),
            (Some("/run/n".into()), Some("eth0".into()))
        );
    }

    #[test]
    fn the_note_says_what_the_path_is() {
        let served = Served { pid: Some(15219), ifname: Some("tap0".into()) };
        assert_eq!(
            note("rl-a", UserMode::Slirp4netns, &served),
            "podman:rl-a is rootless (slirp4netns): no host veth or bridge joins it to the \
             network; its packets leave through rl-a/tap0 to the slirp4netns process (pid \
             15219), a user-mode network stack that turns them into sockets of its own, out of \
             the kernel's path: vtrace traces what it can capture, rl-a/tap0"
        );
        let unknown = note("p", UserMode::Pasta, &Served::default());
        assert!(unknown.contains("through p's interface to a pasta process"), "{unknown}");
    }
}
