//! Pages of the kernel's trace ring buffer, as `per_cpu/cpuN/trace_pipe_raw` hands them over:
//! the binary events the kernel would otherwise format as text for `trace_pipe` (under a flood
//! of drops, formatting each one, its `%pS` symbol lookup included, was most of the drop
//! monitor's CPU). Pure: bytes in, timestamped records out.
//!
//! A page (`events/header_page`): a 64-bit timestamp, a 64-bit commit word (the bytes of events
//! in its low 30 bits; the top ones flag missed events), then the events. Each event
//! (`events/header_event`) starts with a 32-bit word: `type_len` in its low 5 bits and a time
//! delta in the other 27. `type_len` 1 to 28: a record of that many 32-bit words follows; 0: the
//! next word is the record's length plus 4, then the record; 29: padding (the rest of the page
//! when its delta is 0, else a discarded event whose next word says how long it is after the
//! first); 30: a time extension (the next word holds the delta's bits above 27); 31: an absolute
//! timestamp (the same layout). Read as trace-cmd's `kbuffer` reads them.

/// Bytes before a page's events.
const HEADER: usize = 16;
/// The commit word's bits that count the bytes of events (the top two flag missed events).
const COMMIT_MASK: u64 = (1 << 30) - 1;
const PADDING: u32 = 29;
const TIME_EXTEND: u32 = 30;
const TIME_STAMP: u32 = 31;

/// The records of one page with their timestamps (the trace clock's ns), in order. Stops at the
/// first event the page cannot hold (a damaged or cut page yields what came before).
pub fn records(page: &[u8]) -> Records<'_> {
    let base = u64_at(page, 0).unwrap_or(0);
    let commit = u64_at(page, 8).map_or(0, |c| (c & COMMIT_MASK) as usize);
    let end = HEADER.saturating_add(commit).min(page.len());
    Records { data: page.get(..end).unwrap_or_default(), at: HEADER, ts: base }
}

/// See [`records`].
pub struct Records<'a> {
    data: &'a [u8],
    at: usize,
    ts: u64,
}

impl<'a> Iterator for Records<'a> {
    /// The record's timestamp and its bytes.
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let word = u32_at(self.data, self.at)?;
            let (type_len, delta) = (word & 0x1f, u64::from(word >> 5));
            match type_len {
                PADDING => {
                    if delta == 0 {
                        return None;
                    }
                    // A discarded event: its delta counts (the next one's is from its time),
                    // as trace-cmd reads them.
                    let len = u32_at(self.data, self.at + 4)? as usize;
                    self.ts = self.ts.wrapping_add(delta);
                    self.at = self.at.checked_add(4)?.checked_add(len)?;
                }
                TIME_EXTEND => {
                    let high = u64::from(u32_at(self.data, self.at + 4)?);
                    self.ts = self.ts.wrapping_add(high << 27 | delta);
                    self.at += 8;
                }
                TIME_STAMP => {
                    // The low 59 bits of the clock; the bits above stay those of the page.
                    let high = u64::from(u32_at(self.data, self.at + 4)?);
                    let stamp = high << 27 | delta;
                    self.ts = (self.ts & !((1 << 59) - 1)) | stamp;
                    self.at += 8;
                }
                0 => {
                    let len = (u32_at(self.data, self.at + 4)? as usize).checked_sub(4)?;
                    let start = self.at + 8;
                    let record = self.data.get(start..start.checked_add(len)?)?;
                    self.ts = self.ts.wrapping_add(delta);
                    self.at = start + len;
                    return Some((self.ts, record));
                }
                n => {
                    let start = self.at + 4;
                    let len = n as usize * 4;
                    let record = self.data.get(start..start + len)?;
                    self.ts = self.ts.wrapping_add(delta);
                    self.at = start + len;
                    return Some((self.ts, record));
                }
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

pub(super) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A page of these events (`(type_len, delta, words)`), its commit counting them all.
    pub(in crate::sys::dropmon) fn page(base: u64, events: &[(u32, u32, &[u32])]) -> Vec<u8> {
        let mut data = Vec::new();
        for &(type_len, delta, words) in events {
            data.extend_from_slice(&(type_len | delta << 5).to_le_bytes());
            for w in words {
                data.extend_from_slice(&w.to_le_bytes());
            }
        }
        let mut page = base.to_le_bytes().to_vec();
        // A missed-events flag in the top bits does not count as bytes.
        page.extend_from_slice(&(data.len() as u64 | 1 << 31).to_le_bytes());
        page.extend_from_slice(&data);
        page.resize(4096, 0);
        page
    }

    #[test]
    fn records_carry_their_times_through_deltas_extensions_and_stamps() {
        let p = page(
            1_000,
            &[
                (2, 5, &[0xaaaa, 0xbbbb]),
                // A time extension: 3 << 27 plus 7.
                (TIME_EXTEND, 7, &[3]),
                (1, 0, &[0xcccc]),
                // A long record: its length word counts itself.
                (0, 2, &[12, 1, 2]),
                // A discarded event of 8 bytes after its header (its delta counts), then an
                // absolute stamp.
                (PADDING, 3, &[8, 0]),
                (1, 2, &[0xeeee]),
                (TIME_STAMP, 9, &[1]),
                (1, 1, &[0xdddd]),
            ],
        );
        let got: Vec<(u64, Vec<u32>)> = records(&p)
            .map(|(t, r)| {
                let words = r.chunks(4).filter_map(|c| c.try_into().ok()).map(u32::from_le_bytes);
                (t, words.collect())
            })
            .collect();
        let extended = 1_005 + (3 << 27 | 7);
        assert_eq!(
            got,
            vec![
                (1_005, vec![0xaaaa, 0xbbbb]),
                (extended, vec![0xcccc]),
                (extended + 2, vec![1, 2]),
                (extended + 7, vec![0xeeee]),
                ((1 << 27 | 9) + 1, vec![0xdddd]),
            ]
        );
    }

    #[test]
    fn padding_ends_a_page_and_a_cut_page_yields_what_it_holds() {
        let p = page(0, &[(1, 1, &[7]), (PADDING, 0, &[]), (1, 1, &[8])]);
        assert_eq!(records(&p).count(), 1);
        let p = page(0, &[(1, 1, &[7]), (3, 1, &[8, 9, 10])]);
        // The commit says more than the page holds.
        let cut = p.get(..HEADER + 8 + 6).map(<[u8]>::to_vec).unwrap_or_default();
        assert_eq!(records(&cut).count(), 1);
        assert_eq!(records(&[]).count(), 0);
        // Lengths that overflow or point past the page end the records, never panic.
        let p = page(0, &[(0, 1, &[u32::MAX]), (1, 1, &[1])]);
        assert_eq!(records(&p).count(), 0);
        let p = page(0, &[(0, 1, &[2])]);
        assert_eq!(records(&p).count(), 0);
    }
}
