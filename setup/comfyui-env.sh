#!/usr/bin/env bash
# Build, or reuse, a Python environment that runs ComfyUI from its source on the CPU.
#
#   setup/comfyui-env.sh VENV COMFYUI_SRC
#
# PyPI's torch with the torchvision built for it (ComfyUI imports torchvision at start; PyPI's
# torchvision links torch's CUDA libraries, so the `+cpu` torch will not do: the CUDA build runs
# on the CPU with `main.py --cpu`), then COMFYUI_SRC/requirements.txt and requests (ComfyUI 0.8's
# server imports it without listing it), all pinned by setup/comfyui-constraints.txt. About 6 GB. Quiet on success; on failure it prints pip's log and
# exits non-zero. A VENV built from the same constraints and requirements is reused as it is.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 VENV COMFYUI_SRC" >&2
  exit 2
fi
venv=$1
src=$2
constraints=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/comfyui-constraints.txt

if [ ! -f "$src/main.py" ] || [ ! -f "$src/requirements.txt" ]; then
  echo "comfyui-env: $src is not a ComfyUI source tree (no main.py or requirements.txt)" >&2
  exit 2
fi

# What the environment was built from; equal stamps mean there is nothing to do.
stamp_file=$venv/.xpu-comfyui-env
stamp=$(cat "$constraints" "$src/requirements.txt" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

log=$venv/pip.log
mkdir -p "$venv"
fail() {
  [ -f "$log" ] && cat "$log" >&2
  echo "comfyui-env: $1 failed (log: $log)" >&2
  exit 1
}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >"$log" 2>&1 || fail "python3 -m venv $venv"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -c "$constraints" \
  -r "$src/requirements.txt" requests >"$log" 2>&1 || fail "pip install -r $src/requirements.txt"
# (with the bytecode cache the server uses: services/comfyui_server.py keeps it out of the checkout)
PYTHONPYCACHEPREFIX="$venv/pycache" "$venv/bin/python" -c 'import torch, torchvision, safetensors, aiohttp, requests' \
  >>"$log" 2>&1 ||
  fail "importing torch, torchvision, safetensors, aiohttp and requests"
echo "$stamp" >"$stamp_file"
