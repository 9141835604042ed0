//! Kernel symbols by address (`/proc/kallsyms`), to name a drop's location the way `%pS` does
//! in `trace_pipe`: `nft_do_chain+0x3e8/0x5a0` (the function, the offset into it and its size,
//! up to the next symbol).
//!
//! The table is never kept: the file (5 MB of text, 120 k symbols) is read line by line, once
//! for the addresses wanted together, keeping a few hundred bytes per address. A flood of drops
//! comes from a handful of places, so the names found are kept instead.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::{Mutex, PoisonError};

/// This process's named locations.
static KERNEL: Mutex<Option<Symbols>> = Mutex::new(None);

/// Kernel addresses named from `/proc/kallsyms` (read once for all of them, unless every one
/// was named before).
pub fn name_addresses(addrs: &[u64]) -> Vec<Option<String>> {
    let mut kernel = KERNEL.lock().unwrap_or_else(PoisonError::into_inner);
    let kernel = kernel.get_or_insert_with(Symbols::kernel);
    kernel.learn(addrs);
    addrs.iter().map(|a| kernel.named.get(a).cloned()).collect()
}

/// A kernel address named from `/proc/kallsyms`.
pub fn name_address(addr: u64) -> Option<String> {
    name_addresses(&[addr]).pop().flatten()
}

/// Where symbols are read from: the kernel's, or a text (tests).
#[derive(Debug)]
enum Source {
    Kernel,
    #[cfg(test)]
    Text(String),
}

/// Named locations, and where to read the symbols of the next ones.
#[derive(Debug)]
pub struct Symbols {
    source: Source,
    named: HashMap<u64, String>,
}

impl Symbols {
    /// The running kernel's symbols (`/proc/kallsyms`: about 40 ms of the kernel's time per
    /// reading, done only when a drop must be named).
    pub fn kernel() -> Symbols {
        Symbols { source: Source::Kernel, named: HashMap::new() }
    }

    /// The symbols of kallsyms text (`ffffffffc0a1b2c0 t nft_do_chain\t[nf_tables]` lines).
    #[cfg(test)]
    pub fn parse(text: &str) -> Symbols {
        Symbols { source: Source::Text(text.to_owned()), named: HashMap::new() }
    }

    /// Name the addresses of `addrs` not named yet, in one reading of the symbols. Addresses
    /// stay bare (hex) when the symbols cannot be read or hide their addresses.
    pub fn learn(&mut self, addrs: &[u64]) {
        let mut new: Vec<u64> =
            addrs.iter().copied().filter(|a| !self.named.contains_key(a)).collect();
        if new.is_empty() {
            return;
        }
        new.sort_unstable();
        new.dedup();
        let names = match &self.source {
            Source::Kernel => std::fs::File::open("/proc/kallsyms")
                .map(|f| locate(std::io::BufReader::with_capacity(64 * 1024, f), &new))
                .unwrap_or_else(|_| new.iter().map(|&a| format!("{a:#x}")).collect()),
            #[cfg(test)]
            Source::Text(t) => locate(t.as_bytes(), &new),
        };
        self.named.extend(new.into_iter().zip(names));
    }

    /// `function+0xoffset/0xsize` for a kernel address; the address in hex when no symbol
    /// holds it.
    pub fn name(&mut self, addr: u64) -> &str {
        self.learn(&[addr]);
        self.named.get(&addr).map_or("?", String::as_str)
    }
}

/// What one reading found for an address: the symbol at or below it (the last listed of those
/// at its address, as a sorted table has it) and the first address above it (that symbol's end:
/// no symbol lies between the two).
#[derive(Default)]
struct Found {
    start: Option<u64>,
    name: String,
    next: Option<u64>,
}

/// Each of `addrs` (sorted) named from the kallsyms lines of `text`.
fn locate(mut text: impl BufRead, addrs: &[u64]) -> Vec<String> {
    let mut found: Vec<Found> = addrs.iter().map(|_| Found::default()).collect();
    let mut line = String::new();
    loop {
        line.clear();
        match text.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let mut words = line.split_whitespace();
        let (Some(addr), Some(_kind), Some(name)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
        // Hidden addresses read as zero: no symbol can be told from another.
        if addr == 0 {
            continue;
        }
        // The wanted addresses at or above this symbol, then those below it.
        let at = addrs.partition_point(|&a| a < addr);
        for f in found.iter_mut().skip(at) {
            if f.start.is_none_or(|s| s <= addr) {
                f.start = Some(addr);
                f.name.clear();
                f.name.push_str(name);
            } else {
                break;
            }
        }
        for f in found.iter_mut().take(at).rev() {
            if f.next.is_none_or(|n| addr < n) {
                f.next = Some(addr);
            } else {
                break;
            }
        }
    }
    addrs
        .iter()
        .zip(found)
        .map(|(&addr, f)| match (f.start, f.next) {
            (None, _) => format!("{addr:#x}"),
            (Some(start), Some(end)) => {
                format!("{}+{:#x}/{:#x}", f.name, addr - start, end - start)
            }
            (Some(start), None) => format!("{}+{:#x}", f.name, addr - start),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_named_as_pct_ps_names_it() {
        let text = "ffffffffc0a1b000 t nft_do_chain\t[nf_tables]\n\
                    ffffffff820c5d60 T ping_rcv\n\
                    ffffffff820c5e40 t __pfx_ping_seq_start\n\
                    ffffffff820c5e50 T ping_seq_start\n\
                    ffffffffc0a1b5a0 t nft_do_chain_ipv4\t[nf_tables]\n\
                    garbage line\n";
        let mut s = Symbols::parse(text);
        assert_eq!(s.name(0xffff_ffff_820c_5e13), "ping_rcv+0xb3/0xe0");
        assert_eq!(s.name(0xffff_ffff_c0a1_b3e8), "nft_do_chain+0x3e8/0x5a0");
        assert_eq!(s.name(0xffff_ffff_820c_5e50), "ping_seq_start+0x0/0x3e9551b0");
        assert_eq!(s.name(0xffff_ffff_c0a1_b5a4), "nft_do_chain_ipv4+0x4");
        assert_eq!(s.name(0x1000), "0x1000");
        // Hidden addresses: nothing to name by.
        let mut hidden = Symbols::parse("0000000000000000 T ping_rcv\n");
        assert_eq!(hidden.name(0xffff_ffff_820c_5e13), "0xffffffff820c5e13");
    }

    #[test]
    fn addresses_named_together_are_named_as_one_by_one() {
        // Modules listed before the kernel's own text, two names at one address (the last
        // listed is the one shown), an address below every symbol.
        let text = "ffffffffc0a1b5a0 t nft_do_chain_ipv4\t[nf_tables]\n\
                    ffffffffc0a1b000 t nft_do_chain\t[nf_tables]\n\
                    ffffffff81000000 T _stext\n\
                    ffffffff81000000 T _text\n\
                    ffffffff820c5d60 T ping_rcv\n\
                    ffffffff820c5e40 t __pfx_ping_seq_start\n";
        let addrs = [
            0xffff_ffff_c0a1_b5a4,
            0xffff_ffff_8100_0010,
            0x1000,
            0xffff_ffff_820c_5e13,
            0xffff_ffff_c0a1_b3e8,
            0xffff_ffff_820c_5e13,
        ];
        let mut together = Symbols::parse(text);
        together.learn(&addrs);
        let mut alone = Symbols::parse(text);
        for a in addrs {
            assert_eq!(together.name(a), alone.name(a), "{a:#x}");
        }
        assert_eq!(together.name(0xffff_ffff_8100_0010), "_text+0x10/0x10c5d60");
        assert_eq!(together.name(0xffff_ffff_820c_5e13), "ping_rcv+0xb3/0xe0");
        assert_eq!(together.name(0xffff_ffff_c0a1_b3e8), "nft_do_chain+0x3e8/0x5a0");
        assert_eq!(together.name(0xffff_ffff_c0a1_b5a4), "nft_do_chain_ipv4+0x4");
        assert_eq!(together.name(0x1000), "0x1000");
    }
}
