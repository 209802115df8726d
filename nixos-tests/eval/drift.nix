# The drift check: every option a stand-in declares that a real module also declares must have
# the same type (its description, e.g. "list of string matching the pattern ...") and the same
# default. Removed options (invisible) are skipped. Walks both option trees, into submodules (`attrsOf (submodule ...)` as `<name>`).
# Returns { compared = [ "option.path" ... ]; mismatches = [ { option; standIn; real; } ... ]; }.
{ lib }:
let
  describe =
    o:
    let
      default = builtins.tryEval (builtins.toJSON (o.default or null));
    in
    {
      type = o.type.description;
      default = if default.success then default.value else "<cannot be evaluated alone>";
    };

  # the option tree inside a submodule type (directly, or as the element of attrsOf/lazyAttrsOf)
  subOptions =
    loc: type:
    if type.name == "submodule" then
      type.getSubOptions loc
    else if lib.elem type.name [
      "attrsOf"
      "lazyAttrsOf"
    ] && type.nestedTypes.elemType.name == "submodule" then
      type.nestedTypes.elemType.getSubOptions (loc ++ [ "<name>" ])
    else
      null;

  walk =
    loc: standIn: real:
    if real == null then
      [ ]
    else if lib.isOption standIn then
      # a removed option (lib.mkRemovedOptionModule: invisible) is not a declaration to match
      if !lib.isOption real || real.visible or true == false then
        [ ]
      else
        let
          s = subOptions loc standIn.type;
          r = subOptions loc real.type;
        in
        if s != null && r != null then
          walk loc s r
        else
          [
            {
              option = lib.showOption loc;
              standIn = describe standIn;
              real = describe real;
            }
          ]
    else
      lib.concatLists (
        lib.mapAttrsToList (n: v: walk (loc ++ [ n ]) v (real.${n} or null)) (
          removeAttrs standIn [ "_module" ]
        )
      );
in
{ standIn, real }:
let
  pairs = walk [ ] standIn real;
in
{
  compared = map (p: p.option) pairs;
  mismatches = lib.filter (p: p.standIn != p.real) pairs;
}
