//! Process memory settings for a latency-bound engine.
//!
//! Contract: [`disable_transparent_huge_pages`] turns transparent huge pages
//! off for the whole process (and the children it starts), once, before the
//! cores start; it reports whether the kernel agreed and changes nothing
//! else.
//!
//! Why: an allocator that asks for huge pages (mimalloc does, by
//! `madvise`) gets a 2 MiB page zeroed whole the first time any byte of it
//! is touched. A core that grows its heap then stalls on its data path for
//! the zeroing — on a VM whose host has taken the memory back, for
//! milliseconds — and heaps round up to 2 MiB pages. Measured on the
//! 2-vCPU VM of `bench/HISTORY.md` (session 10): EMIT CHANGES paced at 5M rec/s on 2
//! cores after the machine sat idle, p99 8.4–10.7 ms and max 33–56 ms with
//! huge pages, p99 2.1–2.2 ms and max 5–8 ms without; peak RSS 81–85 MB
//! against 37–41 MB.

/// Turns transparent huge pages off for this process
/// (`prctl(PR_SET_THP_DISABLE)`): every later page fault, in regions the
/// allocator marked for huge pages too, maps 4 KiB pages. Returns whether
/// the kernel agreed (it needs Linux 3.15 or later). percore's CLI and
/// benchmark call it first thing; an embedding service may do the same.
pub fn disable_transparent_huge_pages() -> bool {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only; the call
    // reads and writes no memory of this process.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernel_records_the_setting() {
        assert!(super::disable_transparent_huge_pages());
        // SAFETY: PR_GET_THP_DISABLE takes no pointer; it returns the flag.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
    }
}
