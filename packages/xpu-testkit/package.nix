{
  lib,
  python3Packages,
  level-zero,
  ocl-icd,
  clinfo,
}:

python3Packages.buildPythonApplication {
  pname = "xpu-testkit";
  version = "0.1.0";
  pyproject = true;

  src = lib.fileset.toSource {
    root = ./.;
    fileset = lib.fileset.unions [
      ./pyproject.toml
      ./README.md
      ./src
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies = with python3Packages; [
    gguf
    matplotlib
    pexpect
    prometheus-client
    pytest
    pytest-testinfra
    pyyaml
    requests
    websocket-client
  ];

  # The Level Zero probe loads libze_loader.so.1 through ctypes (level-zero's loader finds the GPU
  # driver in /run/opengl-driver/lib) and the OpenCL probe runs clinfo against the ICD loader.
  makeWrapperArgs = [
    "--prefix"
    "LD_LIBRARY_PATH"
    ":"
    (lib.makeLibraryPath [
      level-zero
      ocl-icd
    ])
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ clinfo ])
  ];

  # The unit tests read this machine's /sys, run clinfo and the Level Zero loader; they run in
  # the repository's CI (.ci/run) and in the NixOS VM tests, not in the build sandbox.
  doCheck = false;
  pythonImportsCheck = [ "xpu_testkit" ];

  meta = {
    description = "Probe, diagnose and test an Intel GPU (XPU) AI stack on Linux and NixOS";
    license = lib.licenses.mit;
    mainProgram = "xpu";
    platforms = lib.platforms.linux;
  };
}
