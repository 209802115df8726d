# A member of the Python package set next to xpu-tool (overlays/intel-xpu.nix), so that
# `python3.withPackages (ps: [ ps.xpu-testkit ])` gives pytest its plugin and an override of
# ps.xpu-tool reaches it; pkgs.intel-xpu.xpu-testkit is its application form.
{
  lib,
  buildPythonPackage,
  pythonOlder,
  python,
  setuptools,
  matplotlib,
  numpy,
  pytest,
  requests,
  xpu-tool,
  qemu_kvm,
}:

buildPythonPackage {
  pname = "xpu-testkit";
  # released together: pyproject.toml pins xpu-tool to this version
  inherit (xpu-tool) version;
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
    matplotlib
    numpy
    pytest
    requests
    xpu-tool
  ];

  # The host tool's `xpu`, run where this package's entry points are importable, so `xpu bench`,
  # `xpu vm`, `xpu tiny-model` and `xpu tiny-checkpoint` join its commands (wrapPythonPrograms
  # gives it this package's whole Python closure).
  postInstall = ''
    mkdir -p $out/bin
    cat > $out/bin/xpu <<EOF
    #!${python.interpreter}
    import sys
    from xpu_tool.__main__ import main
    sys.exit(main())
    EOF
    chmod +x $out/bin/xpu
  '';
  # the host tool's wrapper (Level Zero, OpenCL, clinfo), and QEMU for `xpu vm`
  makeWrapperArgs = xpu-tool.makeWrapperArgs ++ [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ qemu_kvm ])
  ];

  # The tests need this machine's /sys, QEMU and real servers: they run in the repository's CI
  # (.ci/run), not in the build sandbox.
  doCheck = false;
  pythonImportsCheck = [
    "xpu_testkit"
    "xpu_testkit.pytest_plugin"
  ];

  meta = {
    description = "The intel-xpu test kit: pytest plugin, QEMU VMs and VFIO passthrough, benchmarks, service doubles";
    license = lib.licenses.mit;
    mainProgram = "xpu";
    # its `xpu` has every command of the host tool's: it wins where both are installed
    priority = (xpu-tool.meta.priority or lib.meta.defaultPriority) - 1;
    platforms = lib.platforms.linux;
  };
}
