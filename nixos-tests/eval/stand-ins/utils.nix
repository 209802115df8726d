# The `utils` module argument NixOS gives every module (nixos/modules/misc/extra-arguments.nix:
# nixos/lib/utils.nix), only the function nixpkgs' services.llama-cpp calls, as
# nixos/lib/utils.nix (read at NixOS/nixpkgs 0229f9e) defines it: each argument a JSON string
# with `%` and `$` doubled (so systemd expands neither), joined with spaces. Under `nix flake
# check` (checks.eval-modules-nixos) the same cases run with the real one.
{ lib }:
let
  escapeSystemdExecArg =
    arg:
    let
      s =
        if lib.isPath arg then
          "${arg}"
        else if lib.isString arg then
          arg
        else if lib.isInt arg || lib.isFloat arg || lib.isDerivation arg then
          toString arg
        else
          throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
    in
    builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
in
{
  escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
}
