# A member of the Python package set (overlays/intel-xpu.nix adds it to every python3*Packages
# through pythonPackagesExtensions; pkgs.intel-xpu.xpu-tool is its application form).
{
  lib,
  buildPythonPackage,
  pythonOlder,
  setuptools,
  pexpect,
  pillow,
  prometheus-client,
  pytest-testinfra,
  pyyaml,
  requests,
  urllib3,
  websocket-client,
  level-zero,
  ocl-icd,
  clinfo,
  vulkan-tools,
}:

let
  # The Level Zero probe loads libze_loader.so.1 through ctypes (level-zero's loader finds the GPU
  # driver in /run/opengl-driver/lib), the OpenCL probe runs clinfo against the ICD loader and the
  # Vulkan probe runs vulkaninfo (vulkan-tools; its loader finds the ICDs in /run/opengl-driver).
  # The test kit's own `xpu` takes these from this package's makeWrapperArgs, so an
  # overridePythonAttrs here reaches it too.
  wrapperArgs = [
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
    (lib.makeBinPath [
      clinfo
      vulkan-tools
    ])
  ];
in
# a Python package (the test kit builds on it) whose program is the `xpu` command
buildPythonPackage {
  pname = "xpu-tool";
  version = "0.1.0";
  pyproject = true;
  # pyproject.toml: requires-python >=3.11 (every Python package set gets this package)
  disabled = pythonOlder "3.11";

  src = lib.fileset.toSource {
    root = ./.;
    fileset = lib.fileset.unions [
      ./pyproject.toml
      ./README.md
      ./src
    ];
  };

  build-system = [ setuptools ];

  dependencies = [
    pexpect
    pillow
    prometheus-client
    pytest-testinfra
    pyyaml
    requests
    urllib3
    websocket-client
  ];

  makeWrapperArgs = wrapperArgs;

  # The tests (packages/xpu-testkit/tests) read this machine's /sys, run clinfo and the Level
  # Zero loader; they run in the repository's CI (.ci/run) and in the NixOS VM tests, not in the
  # build sandbox.
  doCheck = false;
  pythonImportsCheck = [
    "xpu_tool"
    "xpu_tool.cli"
  ];

  meta = {
    description = "Probe, diagnose and check an Intel GPU (XPU) AI stack on Linux and NixOS (the xpu command)";
    license = lib.licenses.mit;
    mainProgram = "xpu";
    platforms = lib.platforms.linux;
  };
}
