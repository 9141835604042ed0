//! A capture point's id: `<namespace label>/<ifname>`, e.g. `nginx-1/eth0`, `host/docker0`,
//! `default/web/eth0` for a pod (the label may itself hold a `/`: the interface name never does).
//! One type for the ids the topology makes, and [`PointId::split`] the one way to take apart an id
//! read back as text (a pcapng interface name, a JSON report). Pure.

use std::fmt;
use std::ops::Deref;

/// `<namespace label>/<ifname>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PointId(String);

impl PointId {
    /// The id of interface `ifname` of the namespace labelled `label`.
    pub fn new(label: &str, ifname: &str) -> PointId {
        PointId(format!("{label}/{ifname}"))
    }

    /// An id read back as text (from a capture file, a report): kept as it is.
    pub fn parse(id: &str) -> PointId {
        PointId(id.to_owned())
    }

    /// Namespace label and interface name of an id given as text: the interface is what follows
    /// the last `/`; an id without one is an interface alone.
    pub fn split(id: &str) -> (Option<&str>, &str) {
        match id.rsplit_once('/') {
            Some((label, ifname)) => (Some(label), ifname),
            None => (None, id),
        }
    }

    /// The namespace label (`nginx-1`), when the id has one.
    pub fn label(&self) -> Option<&str> {
        PointId::split(&self.0).0
    }

    /// The interface name (`eth0`).
    pub fn ifname(&self) -> &str {
        PointId::split(&self.0).1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Deref for PointId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<PointId> for String {
    fn from(id: PointId) -> String {
        id.0
    }
}

impl PartialEq<str> for PointId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PointId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_is_after_the_last_slash() {
        let pod = PointId::new("default/web", "eth0");
        assert_eq!(
            (pod.label(), pod.ifname(), pod.as_str()),
            (Some("default/web"), "eth0", "default/web/eth0")
        );
        assert_eq!(PointId::split("nginx-1/eth0"), (Some("nginx-1"), "eth0"));
        assert_eq!(PointId::split("trace"), (None, "trace"));
        assert_eq!(PointId::parse("host/docker0"), "host/docker0");
    }
}
