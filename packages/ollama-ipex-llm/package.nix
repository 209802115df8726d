# Intel's IPEX-LLM build of Ollama (PyPI bigdl-core-cpp 2.5.0: an Ollama 0.3-era server with a
# SYCL llama.cpp runner) and the oneAPI 2024 runtime it was built against, unpacked from the PyPI
# wheels and patched for NixOS. The same wheels run in this repository's CI (bootstrap.sh).
# wheels.json: each wheel's URL and sha256 as pypi.org's JSON simple API lists them.
{
  lib,
  stdenv,
  fetchurl,
  unzip,
  autoPatchelfHook,
  makeWrapper,
  python3,
  level-zero,
  ocl-icd,
  zlib,
}:
let
  wheels = map (
    w:
    fetchurl {
      inherit (w) url hash;
      name = baseNameOf w.url;
    }
  ) (lib.importJSON ./wheels.json);
in
stdenv.mkDerivation {
  pname = "ollama-ipex-llm";
  version = "2.5.0";

  srcs = wheels;
  dontUnpack = true;

  nativeBuildInputs = [
    unzip
    autoPatchelfHook
    makeWrapper
    python3
  ];
  buildInputs = [
    stdenv.cc.cc.lib
    level-zero
    ocl-icd
    zlib
  ];
  # The GPU's Level Zero driver and OpenCL ICDs come from the system (hardware.graphics).
  runtimeDependencies = [ level-zero ];
  appendRunpaths = [ "/run/opengl-driver/lib" ];
  # oneAPI ships optional plugins for hardware NixOS users do not have (CUDA, HIP, MPI).
  autoPatchelfIgnoreMissingDeps = [
    "libcuda.so.1"
    "libcudart.so.12"
    "libamdhip64.so.5"
    "libmpi.so.12"
    "libmpi.so.40"
  ];
  dontStrip = true;

  installPhase = ''
    runHook preInstall
    for whl in $srcs; do
      unzip -q -o "$whl" -d wheels
    done
    mkdir -p $out/lib $out/libexec/ollama-ipex-llm $out/bin
    # the oneAPI runtime wheels install their libraries into <prefix>/lib
    for data in wheels/*.data/data/lib; do
      cp -a "$data"/. $out/lib/
    done
    cp -a wheels/bigdl/cpp/libs/. $out/libexec/ollama-ipex-llm/
    # This Ollama embeds its model runners (ollama_llama_server per CPU variant, gzipped) and
    # unpacks them into a temporary directory at every start, where they are not patched for
    # NixOS. Unpack them here, from the binary and without starting it, as the server would (byte
    # for byte: pytests/test_ollama_ipex_llm_runners.py); autoPatchelfHook then patches them with
    # the rest, and OLLAMA_RUNNERS_DIR points the server at them (a runner already there is not
    # unpacked again, so the read-only store copy is used).
    python3 ${./extract-runners.py} $out/libexec/ollama-ipex-llm/ollama $out/libexec/ollama-ipex-llm/runners
    makeWrapper $out/libexec/ollama-ipex-llm/ollama $out/bin/ollama \
      --prefix LD_LIBRARY_PATH : "$out/lib:$out/libexec/ollama-ipex-llm" \
      --set-default OLLAMA_RUNNERS_DIR "$out/libexec/ollama-ipex-llm/runners"
    runHook postInstall
  '';

  meta = {
    description = "Intel IPEX-LLM build of Ollama (SYCL, Intel GPUs) with its oneAPI 2024 runtime";
    homepage = "https://github.com/intel/ipex-llm";
    # bigdl-core-cpp is Apache-2.0; the oneAPI runtime wheels are under Intel's Simplified Software License
    license = with lib.licenses; [
      asl20
      unfreeRedistributable
    ];
    sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
    platforms = [ "x86_64-linux" ];
    mainProgram = "ollama";
  };
}
