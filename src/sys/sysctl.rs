//! A namespace's routing switches from `/proc/sys/net`: forwarding (IPv4, IPv6) and the
//! reverse-path filter (`all` and each interface). `/proc/sys/net` shows the namespace of the
//! thread that reads it, so [`read_here`] runs on a thread inside the namespace (discovery's).

use std::path::Path;

use crate::core::topology::Sysctl;

const ROOT: &str = "/proc/sys/net";

/// The switches of the namespace the calling thread is in; what cannot be read stays `None`.
pub fn read_here() -> Sysctl {
    read_from(Path::new(ROOT))
}

/// The same from a `/proc/sys/net`-shaped folder (tests give a temporary one).
pub fn read_from(root: &Path) -> Sysctl {
    let num = |rel: &str| -> Option<u8> {
        std::fs::read_to_string(root.join(rel)).ok()?.trim().parse().ok()
    };
    let conf = root.join("ipv4/conf");
    let mut rp_filter: Vec<(String, u8)> = std::fs::read_dir(&conf)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name == "all" || name == "default" {
                return None;
            }
            Some((name.clone(), num(&format!("ipv4/conf/{name}/rp_filter"))?))
        })
        .collect();
    rp_filter.sort();
    Sysctl {
        ip_forward: num("ipv4/ip_forward").map(|v| v != 0),
        ip6_forward: num("ipv6/conf/all/forwarding").map(|v| v != 0),
        rp_filter_all: num("ipv4/conf/all/rp_filter"),
        rp_filter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_are_read_and_missing_ones_stay_unknown() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let w = |rel: &str, v: &str| {
            let p = dir.path().join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(p, v).unwrap_or_else(|e| panic!("{e}"));
        };
        w("ipv4/ip_forward", "1\n");
        w("ipv4/conf/all/rp_filter", "0\n");
        w("ipv4/conf/default/rp_filter", "2\n");
        w("ipv4/conf/eth0/rp_filter", "1\n");
        w("ipv4/conf/lo/rp_filter", "0\n");
        let s = read_from(dir.path());
        assert_eq!(s.ip_forward, Some(true));
        assert_eq!(s.ip6_forward, None);
        assert_eq!(s.rp_filter_all, Some(0));
        assert_eq!(s.rp_filter, vec![("eth0".to_owned(), 1), ("lo".to_owned(), 0)]);
        assert_eq!(s.rp_filter_on("eth0"), Some(1));
        assert_eq!(s.rp_filter_on("lo"), Some(0));
    }

    #[test]
    fn this_namespace_can_be_read() {
        // Every Linux has the IPv4 switch; its value is the machine's business.
        assert!(read_here().ip_forward.is_some());
    }
}
