//! Process-wide allocator settings for the commands that run models (`train`, `judge
//! --judge local:DIR`).

/// Keeps freed memory in the process for reuse.
///
/// Tensor work allocates and frees buffers of megabytes to tens of megabytes many times a
/// second. By default glibc serves large blocks with a fresh `mmap` and unmaps them on free,
/// and trims the heap top, so the kernel faults in and zeroes every buffer again: in profiles
/// of training that was up to a third of the CPU time. This serves every block from the heap
/// (no `mmap` for large ones), turns off trimming and uses one arena, so freed blocks are
/// reused. The peak memory is about the same; it is returned when the process exits.
/// Elsewhere than glibc this does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters, each call is independent and takes
    // plain integers; glibc documents it as safe to call at any time (settings apply to later
    // allocations). A rejected value leaves the default, which is still correct, so the
    // return values need no handling.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
