//! Kernel symbols by address (`/proc/kallsyms`), to name a drop's location the way `%pS` does
//! in `trace_pipe`: `nft_do_chain+0x3e8/0x5a0` (the function, the offset into it and its size,
//! up to the next symbol).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// This process's symbols, read on the first address to name.
static KERNEL: Mutex<Option<Symbols>> = Mutex::new(None);

/// A kernel address named from `/proc/kallsyms` (read once, on the first call).
pub fn name_address(addr: u64) -> Option<String> {
    let mut kernel = KERNEL.lock().unwrap_or_else(PoisonError::into_inner);
    Some(kernel.get_or_insert_with(Symbols::load).name(addr).to_owned())
}

/// The kernel's symbols, sorted by address.
#[derive(Debug, Default)]
pub struct Symbols {
    /// Address and the range of its name in `names`.
    table: Vec<(u64, u32, u32)>,
    names: String,
    /// Locations named so far (a flood of drops comes from a handful of places).
    named: HashMap<u64, String>,
}

impl Symbols {
    /// Read `/proc/kallsyms` (about 40 ms of the kernel's time: done once, and only when a drop
    /// must be named). Empty when it cannot be read or hides its addresses.
    pub fn load() -> Symbols {
        std::fs::read_to_string("/proc/kallsyms").map(|t| Symbols::parse(&t)).unwrap_or_default()
    }

    /// The symbols of kallsyms text (`ffffffffc0a1b2c0 t nft_do_chain\t[nf_tables]` lines).
    pub fn parse(text: &str) -> Symbols {
        let mut table = Vec::new();
        let mut names = String::new();
        for line in text.lines() {
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
            let (Ok(start), Ok(len)) = (u32::try_from(names.len()), u32::try_from(name.len()))
            else {
                break;
            };
            names.push_str(name);
            table.push((addr, start, len));
        }
        table.sort_by_key(|&(addr, ..)| addr);
        Symbols { table, names, named: HashMap::new() }
    }

    /// `function+0xoffset/0xsize` for a kernel address; the address in hex when no symbol
    /// holds it.
    pub fn name(&mut self, addr: u64) -> &str {
        let Symbols { table, names, named } = self;
        named.entry(addr).or_insert_with(|| locate(table, names, addr))
    }
}

fn locate(table: &[(u64, u32, u32)], names: &str, addr: u64) -> String {
    let at = table.partition_point(|&(a, ..)| a <= addr);
    let Some(&(start, from, len)) = at.checked_sub(1).and_then(|i| table.get(i)) else {
        return format!("{addr:#x}");
    };
    let name = names.get(from as usize..from as usize + len as usize).unwrap_or("?");
    // The next symbol at a higher address ends this one.
    let next = table.get(at..).and_then(|rest| rest.iter().find(|&&(a, ..)| a > start));
    match next {
        Some(&(end, ..)) => format!("{name}+{:#x}/{:#x}", addr - start, end - start),
        None => format!("{name}+{:#x}", addr - start),
    }
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
}
