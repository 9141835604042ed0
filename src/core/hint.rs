//! Cache hints: ask the CPU for memory ahead of its use, where a thread reads what another
//! core wrote a while ago (a live capture's frame references, the exchanges a renderer gets), or
//! is about to write what another core read last (recycled boxes). No effect on what the program
//! computes.

/// A hint to load the cache lines of `value` (both, when it straddles two).
#[inline(always)]
pub fn prefetch_read<T>(value: &T) {
    let first = std::ptr::from_ref(value).cast::<i8>();
    prefetch::<READ>(first);
    prefetch::<READ>(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

/// A hint to load the entry `ahead` places from the front of a first-in-first-out queue: the
/// front of a queue that holds a window's worth of entries was written long ago and left the
/// cache, and entries leave one at a time, too sparsely for the processor's own prefetcher to
/// follow. Called as the front leaves, it keeps the next fronts in cache.
#[inline(always)]
pub fn prefetch_front<T>(queue: &std::collections::VecDeque<T>, ahead: usize) {
    if let Some(entry) = queue.get(ahead) {
        prefetch_read(entry);
    }
}

/// A hint to load every cache line of `values` (a slice another core wrote).
#[inline(always)]
pub fn prefetch_read_all<T>(values: &[T]) {
    each_line::<T, READ>(values);
}

/// A hint to load every cache line of `values` to be written (memory another core read last):
/// `prefetchw` on x86-64 processors that have it (asked once), which asks for the line
/// exclusive, so the write that follows need not. Not left to `_mm_prefetch`, which makes it a
/// read hint unless the build assumes `prfchw`: the line would come in shared and be asked for
/// again by the write. Elsewhere a read hint.
#[inline(always)]
pub fn prefetch_write_all<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if !has_prefetchw() {
        return each_line::<T, READ>(values);
    }
    each_line::<T, WRITE>(values);
}

#[cfg(target_arch = "x86_64")]
const READ: i32 = std::arch::x86_64::_MM_HINT_T0;
#[cfg(target_arch = "x86_64")]
const WRITE: i32 = std::arch::x86_64::_MM_HINT_ET0;
#[cfg(not(target_arch = "x86_64"))]
const READ: i32 = 0;
#[cfg(not(target_arch = "x86_64"))]
const WRITE: i32 = 1;

#[inline(always)]
fn each_line<T, const HOW: i32>(values: &[T]) {
    const LINE: usize = 64;
    let first = values.as_ptr().cast::<i8>();
    let bytes = std::mem::size_of_val(values);
    let mut off = 0;
    while off < bytes {
        prefetch::<HOW>(first.wrapping_add(off));
        off += LINE;
    }
    if bytes > 0 {
        prefetch::<HOW>(first.wrapping_add(bytes - 1));
    }
}

/// Whether this processor has `prefetchw` (CPUID 8000_0001h, ECX bit 8), asked once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_prefetchw() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        use std::arch::x86_64::__cpuid;
        // SAFETY: every x86-64 processor has `cpuid`, and leaf 8000_0000h says which extended
        // leaves it answers.
        #[allow(unused_unsafe, reason = "`__cpuid` is an unsafe fn in the Rust of the MSRV (1.85)")]
        let (top, ecx) = unsafe {
            let top = __cpuid(0x8000_0000).eax;
            (top, if top >= 0x8000_0001 { __cpuid(0x8000_0001).ecx } else { 0 })
        };
        top >= 0x8000_0001 && ecx & (1 << 8) != 0
    })
}

#[inline(always)]
fn prefetch<const HOW: i32>(at: *const i8) {
    #[cfg(target_arch = "x86_64")]
    if HOW == WRITE {
        // SAFETY: a prefetch never faults and writes nothing, whatever the address, and write
        // hints are asked for only of a processor that has the instruction.
        unsafe {
            std::arch::asm!("prefetchw [{0}]", in(reg) at, options(nostack, readonly, preserves_flags));
        }
    } else {
        // SAFETY: as above.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<HOW>(at);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    /// The CPUID answer agrees with what Linux read from the same bit (`3dnowprefetch`).
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn prefetchw_is_used_where_the_processor_has_it() {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else { return };
        let Some(flags) = info.lines().find(|l| l.starts_with("flags")) else { return };
        let listed = flags.split_whitespace().any(|f| f == "3dnowprefetch");
        assert_eq!(super::has_prefetchw(), listed);
    }
}
