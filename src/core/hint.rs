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

/// A hint to load every cache line of `values` (a slice another core wrote).
#[inline(always)]
pub fn prefetch_read_all<T>(values: &[T]) {
    each_line::<T, READ>(values);
}

/// A hint to load every cache line of `values` to be written (memory another core read last).
/// Without the `prfchw` target feature (not assumed by the build) the CPU gets it as a read
/// hint: the line comes in shared, and the write still asks for it exclusive.
#[inline(always)]
pub fn prefetch_write_all<T>(values: &[T]) {
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

#[inline(always)]
fn prefetch<const HOW: i32>(at: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and writes nothing, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<HOW>(at);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
