# The Intel GPU families `xpu doctor` knows (packages/xpu-tool/src/xpu_tool/data/gpu-families.json,
# the file gpu_ids.py reads), for hardware.intel-xpu: each family by its code, and by PCI id.
{ lib }:
let
  table = builtins.fromJSON (builtins.readFile ../../packages/xpu-tool/src/xpu_tool/data/gpu-families.json);
  family =
    f:
    f
    // {
      xeOnly = f.drivers == [ "xe" ];
      integrated = f.kind == "integrated";
      # hardware.intel-xpu.computeRuntime's (and nixos-hardware's) name for it
      computeRuntime = if f.compute_runtime == "legacy1" then "legacy" else "default";
    };
in
rec {
  families = lib.listToAttrs (map (f: lib.nameValuePair f.code (family f)) table.families);
  codes = map (f: f.code) table.families;
  # "e20b" -> the family
  byId = lib.listToAttrs (
    lib.concatMap (f: map (id: lib.nameValuePair id f) f.ids) (lib.attrValues families)
  );
}
