# Judge the NixOS advice `xpu doctor` and `xpu check` give (pytests/test_advice.py collects it):
# each option path must be an option of a machine that imports every module of modules/nixos
# (nixosModules.default) on nixpkgs' real module files, as harness.nix evaluates them, and the
# advised value must be one its type accepts. Options under attrsOf (systemd.services.<name>,
# users.users.<name>) are followed into the element type; submodules into their options.
#   settings: [ { option = "a.b.c"; value = { pkgs, lib, config }: <value>; } ]
#             (value = null: the option is only named, in prose)
# Returns [ { option; exists; accepts; type; } ].
{ lib, upstream }:
settings:
let
  standIn = import ./stand-ins/pkgs.nix { inherit lib; } { };
  kernelPackages = import ./stand-ins/kernel-packages.nix { inherit lib; };
  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  # the packages the advice names that no module here reads; nixpkgs has them
  # (pytests/test_advice.py checks the names against the nixpkgs checkout)
  pkgs =
    standIn
    // {
      linuxPackages = kernelPackages "6.12.10";
      linuxPackages_latest = kernelPackages standIn.linuxPackages_latest.kernel.version;
      vulkan-tools = drv "vulkan-tools";
      sshpass = drv "sshpass";
    };
  modules = map (name: ../../modules/nixos + "/${name}") (
    lib.attrNames (lib.filterAttrs (n: t: t == "regular" && lib.hasSuffix ".nix" n) (builtins.readDir ../../modules/nixos))
  );
  eval = lib.evalModules {
    modules = [
      ./stand-ins/nixos.nix
      upstream.nixos.assertions
      upstream.nixos.graphics
      upstream.nixos.comfyui
      upstream.nixos.ollama
      upstream.nixos.llamaCpp
      {
        _module.args.pkgs = pkgs;
        _module.args.utils = import ./stand-ins/utils.nix { inherit lib; };
      }
    ]
    ++ modules;
  };
  inherit (eval) options config;

  # a path that names a set of options (hardware.intel-xpu): it exists, no value is one of its
  optionSet = {
    name = "option set";
    description = "option set";
    check = _: false;
  };
  elemOf = t: t.nestedTypes.elemType or null;
  # the type at `path` below an option tree node, or null when there is no such option
  resolve =
    node: path:
    if lib.isOption node then
      descend node.type path
    else if path == [ ] && lib.isAttrs node then
      optionSet
    else if path == [ ] || !(lib.isAttrs node) || !(node ? ${lib.head path}) then
      null
    else
      resolve node.${lib.head path} (lib.tail path);
  descend =
    t: path:
    if path == [ ] then
      t
    else if lib.elem t.name [
      "attrsOf"
      "lazyAttrsOf"
    ] then
      descend (elemOf t) (lib.tail path)
    else if t.name == "nullOr" then
      descend (elemOf t) path
    else if t.name == "submodule" then
      resolve (t.getSubOptions [ ]) path
    else
      null;
  unwrap = v: if lib.isAttrs v && lib.elem (v._type or null) [ "override" "order" ] then unwrap v.content else v;
  # type.check, followed into list and attribute-set elements (listOf's own check is only isList)
  accepts =
    t: v0:
    let
      v = unwrap v0;
    in
    if t.name == "listOf" then
      lib.isList v && lib.all (accepts (elemOf t)) v
    else if
      lib.elem t.name [
        "attrsOf"
        "lazyAttrsOf"
      ]
    then
      t.check v && lib.all (accepts (elemOf t)) (lib.attrValues v)
    else if t.name == "nullOr" then
      v == null || accepts (elemOf t) v
    else
      t.check v;
in
map (
  s:
  let
    t = resolve options (lib.splitString "." s.option);
  in
  {
    inherit (s) option;
    exists = t != null;
    type = if t == null then null else t.description;
    accepts =
      if t == null || s.value == null then
        null
      else
        accepts t (s.value {
          inherit pkgs lib config;
        });
  }
) settings
