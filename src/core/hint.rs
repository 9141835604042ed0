//! Cache hints: ask the CPU for memory ahead of its use, where a thread reads what another
//! core wrote a while ago (a live capture's frame references). No effect on what the program
//! computes.

/// A hint to load the cache lines of `value` (both, when it straddles two).
#[inline(always)]
pub fn prefetch_read<T>(value: &T) {
    let first = std::ptr::from_ref(value).cast::<i8>();
    prefetch(first);
    prefetch(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

#[inline(always)]
fn prefetch(at: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and writes nothing, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<{ _MM_HINT_T0 }>(at);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
