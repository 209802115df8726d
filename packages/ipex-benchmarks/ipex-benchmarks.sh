# shellcheck shell=bash # the text of a writeShellApplication (package.nix), which adds bash's shebang
# ipex-benchmarks: measure this machine's Intel GPU services against the CPU with `xpu bench`.
#   OLLAMA_URL        Ollama to measure (default http://127.0.0.1:11434), GPU against num_gpu 0
#   OLLAMA_BACKEND    the name it gets in the report (default ollama)
#   COMFYUI_XPU_URL   ComfyUI on the GPU  } both set: ComfyUI too, it/s of the same workflow
#   COMFYUI_CPU_URL   ComfyUI with --cpu  }
#   XPU_BENCH_OUT     report directory (default ./bench-results)
# Extra arguments go to `xpu bench ollama` (e.g. --gguf model.gguf --repetitions 5).
# Exit status: 0 when every benchmark run meets its bar, 1 when one does not, 2 on bad input.
out="${XPU_BENCH_OUT:-bench-results}"
status=0

xpu bench ollama --backend "${OLLAMA_BACKEND:-ollama}=${OLLAMA_URL:-http://127.0.0.1:11434}" --out "$out" "$@" || status=$?
if [ "$status" -gt 1 ]; then
  exit "$status"
fi

if [ -n "${COMFYUI_XPU_URL:-}" ] && [ -n "${COMFYUI_CPU_URL:-}" ]; then
  comfyui=0
  xpu bench comfyui --xpu "$COMFYUI_XPU_URL" --cpu "$COMFYUI_CPU_URL" --out "$out" || comfyui=$?
  if [ "$comfyui" -gt "$status" ]; then
    status=$comfyui
  fi
elif [ -n "${COMFYUI_XPU_URL:-}${COMFYUI_CPU_URL:-}" ]; then
  echo "ipex-benchmarks: set both COMFYUI_XPU_URL and COMFYUI_CPU_URL to benchmark ComfyUI" >&2
  exit 2
fi

echo "ipex-benchmarks: reports in $out"
exit "$status"
