//! The `agora` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    // Model plugins may run OpenMP (libtorch does). Its worker threads spin while they wait by
    // default, which on a machine with busy cores slows training many times over and steals CPU
    // from the API; waiting passively costs little. Set before any plugin is loaded or thread
    // started; an operator's own setting wins.
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        std::env::set_var("OMP_WAIT_POLICY", "PASSIVE");
    }
    keep_large_allocations();
    agora::cli::main()
}

/// glibc serves each allocation over 128 KiB-32 MiB with its own `mmap` and unmaps it when freed.
/// Training allocates and frees tens-of-MiB tensors (a batch's logits over the catalogue) every
/// step, so the kernel zeroed and faulted in every page of them again each step: up to a third of
/// a SASRec epoch went to system time. Keeping large blocks in the heap for reuse removes that
/// (`agora bench train`, README); the price is that the process keeps its peak heap instead of
/// returning it. Runs before any thread starts.
fn keep_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; no allocation is in flight on
    // another thread yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
