//! Cache hints: ask the CPU for memory ahead of its use, where a thread reads what another
//! core wrote a while ago (a live capture's frame references, the exchanges a renderer gets). No
//! effect on what the program computes.

/// A hint to load the cache lines of `value` (both, when it straddles two).
#[inline(always)]
pub fn prefetch_read<T>(value: &T) {
    let first = std::ptr::from_ref(value).cast::<i8>();
    prefetch(first);
    prefetch(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

/// A hint to load every cache line of `values` (a slice another core wrote).
#[inline(always)]
pub fn prefetch_read_all<T>(values: &[T]) {
    const LINE: usize = 64;
    let first = values.as_ptr().cast::<i8>();
    let bytes = std::mem::size_of_val(values);
    let mut off = 0;
    while off < bytes {
        prefetch(first.wrapping_add(off));
        off += LINE;
    }
    if bytes > 0 {
        prefetch(first.wrapping_add(bytes - 1));
    }
}

/// A hint to load every cache line of `values` to be written (memory another core read last:
/// recycled boxes).
#[inline(always)]
pub fn prefetch_write_all<T>(values: &[T]) {
    const LINE: usize = 64;
    let first = values.as_ptr().cast::<i8>();
    let bytes = std::mem::size_of_val(values);
    let mut off = 0;
    while off < bytes {
        prefetch_w(first.wrapping_add(off));
        off += LINE;
    }
    if bytes > 0 {
        prefetch_w(first.wrapping_add(bytes - 1));
    }
}

#[inline(always)]
fn prefetch_w(at: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and writes nothing, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
        _mm_prefetch::<{ _MM_HINT_ET0 }>(at);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
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
