//! `mtu` on an overlay: a packet too big for a VXLAN tunnel, with the arithmetic that makes it
//! so (the packet, the encapsulation, the underlay's MTU) and where it really stops.
//!
//! A VXLAN device takes its underlay's MTU minus the encapsulation (50 bytes over IPv4); a
//! container whose interface keeps Ethernet's 1500 sends packets the tunnel cannot carry. The
//! bridge that would forward them to the VXLAN device drops them silently (a bridge sends no
//! ICMP "fragmentation needed"), so the sender never learns. Pure: reads the topology at trace
//! time and the lost segment, never guesses beyond them.

use super::Diagnosis;
use crate::core::path::{Path, PathPoint, Role};
use crate::core::topology::{Link, Topology, Vxlan};
use crate::core::verdict::{Cause, Segment};

/// The tunnel arithmetic of one packet size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelFit {
    /// The inner IP packet's size.
    pub len: u32,
    /// The encapsulation's bytes.
    pub overhead: u32,
    /// The underlay's MTU.
    pub underlay_mtu: u32,
}

impl TunnelFit {
    /// The outer packet's size.
    pub fn outer(&self) -> u32 {
        self.len + self.overhead
    }

    /// True when the outer packet is larger than the underlay carries.
    pub fn exceeds(&self) -> bool {
        self.outer() > self.underlay_mtu
    }

    /// The largest inner packet that fits.
    pub fn largest(&self) -> u32 {
        self.underlay_mtu.saturating_sub(self.overhead)
    }

    /// `1500-byte packet + 50 bytes of VXLAN encapsulation = 1550 > underlay MTU 1500 of ID`.
    pub fn sentence(&self, underlay: &str) -> String {
        format!(
            "{}-byte packet + {} bytes of VXLAN encapsulation = {} > underlay MTU {} of {underlay}",
            self.len,
            self.overhead,
            self.outer(),
            self.underlay_mtu
        )
    }
}

/// `mtu` when a DF packet of `len` bytes was lost on its way into a VXLAN tunnel of the segment
/// (or just after it) that cannot carry it.
pub fn tunnel_mtu(topo: &Topology, path: &Path, seg: Segment, len: usize) -> Option<Diagnosis> {
    let len = u32::try_from(len).ok()?;
    let from = seg.after.map_or(0, |p| p.index());
    let to = seg.before.map_or(path.points.len().saturating_sub(1), |p| p.index());
    let (at, tunnel, v) = path.points.iter().enumerate().find_map(|(i, p)| {
        let l = topo.link(p.ns, p.ifindex)?;
        let v = l.vxlan.as_ref()?;
        ((from..=to).contains(&i)).then_some((i, p, (l, v)))
    })?;
    let (link, v) = v;
    let (underlay_id, underlay) = underlay_of(topo, path, at, tunnel, v)?;
    let fit = TunnelFit { len, overhead: v.overhead(), underlay_mtu: underlay.mtu };
    if !fit.exceeds() && len <= link.mtu {
        return None;
    }
    let mut detail = format!(
        "{}: {} (VNI {}) has MTU {}, so {len}-byte packets with DF do not fit it",
        fit.sentence(&underlay_id),
        tunnel.point_id,
        v.vni,
        link.mtu
    );
    let dropper = seg.after.and_then(|p| path.points.get(p.index()));
    if let Some(b) = dropper.filter(|p| p.role == Role::Bridge && at == from + 1) {
        detail.push_str(&format!(
            "; the bridge {} drops them as it forwards them to {} and sends no ICMP \
             \"fragmentation needed\", so the sender never learns",
            b.point_id, tunnel.point_id
        ));
    }
    if let Some(src) = path.points.first().and_then(|p| topo.link(p.ns, p.ifindex)) {
        detail.push_str(&format!(
            " (fix: MTU {} on {} and the other containers' interfaces, now {}, or an underlay \
             MTU of at least {})",
            fit.largest(),
            path.points.first().map_or("the source", |p| p.point_id.as_str()),
            src.mtu,
            fit.outer()
        ));
    }
    Some(Diagnosis { cause: Cause::Mtu, detail })
}

/// The tunnel's underlay link: its `dev` when set, else the underlay point after it on the path.
fn underlay_of<'t>(
    topo: &'t Topology,
    path: &'t Path,
    at: usize,
    tunnel: &PathPoint,
    v: &Vxlan,
) -> Option<(String, &'t Link)> {
    if let Some(dev) = v.underlay
        && let Some(l) = topo.link(tunnel.ns, dev)
    {
        return Some((topo.point_id(tunnel.ns, dev).to_string(), l));
    }
    let p = path.points.iter().skip(at + 1).find(|p| p.role == Role::Underlay)?;
    Some((p.point_id.to_string(), topo.link(p.ns, p.ifindex)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arithmetic_of_a_full_size_packet_on_a_1500_byte_underlay() {
        let fit = TunnelFit { len: 1500, overhead: 50, underlay_mtu: 1500 };
        assert!(fit.exceeds());
        assert_eq!(fit.largest(), 1450);
        assert_eq!(
            fit.sentence("node-1/underlay0"),
            "1500-byte packet + 50 bytes of VXLAN encapsulation = 1550 > underlay MTU 1500 of \
             node-1/underlay0"
        );
        assert!(!TunnelFit { len: 1450, ..fit }.exceeds());
        assert!(!TunnelFit { underlay_mtu: 1550, ..fit }.exceeds());
    }
}
