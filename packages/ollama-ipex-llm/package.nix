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
    makeWrapper $out/libexec/ollama-ipex-llm/ollama $out/bin/ollama \
      --prefix LD_LIBRARY_PATH : "$out/lib:$out/libexec/ollama-ipex-llm" \
      --set-default OLLAMA_RUNNERS_DIR "$out/libexec/ollama-ipex-llm/runners"
    runHook postInstall
  '';

  # This Ollama unpacks its model runners (ollama_llama_server) into a temporary directory at every
  # start; unpacked there they are not patched for NixOS. Unpack them once here, after
  # autoPatchelfHook (a postFixup hook, so it runs before this) has patched `ollama`, patch them,
  # and point OLLAMA_RUNNERS_DIR at them: an existing runner is not unpacked again, so the
  # read-only store copy is used (checked with this build's binary on a read-only directory).
  postFixup = ''
    export HOME=$TMPDIR OLLAMA_TMPDIR=$TMPDIR/ollama-tmp OLLAMA_HOST=127.0.0.1:38517
    mkdir -p $OLLAMA_TMPDIR
    LD_LIBRARY_PATH=$out/lib:$out/libexec/ollama-ipex-llm $out/libexec/ollama-ipex-llm/ollama serve &
    server=$!
    for _ in $(seq 300); do
      [ -n "$(find $OLLAMA_TMPDIR -name ollama_llama_server 2>/dev/null)" ] && sleep 1 && break
      sleep 0.1
    done
    kill $server || true
    wait $server || true
    runners=$(dirname $(dirname $(find $OLLAMA_TMPDIR -name ollama_llama_server | head -n 1)))
    cp -r "$runners" $out/libexec/ollama-ipex-llm/runners
    autoPatchelf $out/libexec/ollama-ipex-llm/runners
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
