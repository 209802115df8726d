# The drift check: every option a stand-in declares that a real module also declares must have
# the same type (its description, e.g. "list of string matching the pattern ...") and the same
# default (its JSON; where an option documents its default with `defaultText`, as options whose
# default is a package set do, that text). Removed options (invisible) are not declarations to
# match. Walks both option trees, into submodules (`attrsOf (submodule ...)`, at any depth of
# attrsOf, as `<name>`), also where one side declares a submodule option and the other a plain
# tree of options.
# Returns {
#   compared = [ "option.path" ... ];                 options both sides declare
#   mismatches = [ { option; standIn; real; } ... ];  of those, the ones that differ
#   missing = [ "option.path" ... ];                  stand-in options (or trees) the real side lacks
# }
{ lib }:
let
  describe =
    o:
    if !lib.isOption o then
      {
        type = "<a tree of options>";
        default = null;
      }
    else
      let
        default = builtins.tryEval (builtins.toJSON (o.default or null));
      in
      {
        type = o.type.description;
        default =
          # (security.acme's inheritable options set it to null where the default stands)
          if o.defaultText or null != null then
            "defaultText: ${o.defaultText.text or o.defaultText}"
          else if default.success then
            default.value
          else
            "<cannot be evaluated alone>";
      };

  isAttrsOf =
    type:
    lib.elem type.name [
      "attrsOf"
      "lazyAttrsOf"
    ];

  # the option tree inside a submodule type (directly, or as the element of attrsOf/lazyAttrsOf,
  # nested to any depth: one `<name>` per level), with its location
  subOptions =
    loc: type:
    if type.name == "submodule" then
      {
        inherit loc;
        options = type.getSubOptions loc;
      }
    else if isAttrsOf type then
      subOptions (loc ++ [ "<name>" ]) type.nestedTypes.elemType
    else
      null;

  # an option's sub-options, or the tree itself
  tree =
    loc: x:
    if lib.isOption x then
      subOptions loc x.type
    else
      {
        inherit loc;
        options = x;
      };

  # a removed option (lib.mkRemovedOptionModule: invisible) is not a declaration to match
  removed = real: lib.isOption real && real.visible or true == false;

  pair = loc: standIn: real: {
    option = lib.showOption loc;
    standIn = describe standIn;
    real = describe real;
  };

  walk =
    loc: standIn: real:
    if real == null then
      [ { missing = lib.showOption loc; } ]
    else if removed real then
      [ ]
    else if lib.isOption standIn || lib.isOption real then
      let
        s = tree loc standIn;
        r = tree loc real;
      in
      if s != null && r != null && s.loc == r.loc then
        walk s.loc s.options r.options
      else
        [ (pair loc standIn real) ]
    else
      lib.concatLists (
        lib.mapAttrsToList (n: v: walk (loc ++ [ n ]) v (real.${n} or null)) (
          removeAttrs standIn [ "_module" ]
        )
      );
in
{ standIn, real }:
let
  found = walk [ ] standIn real;
  pairs = lib.filter (p: !(p ? missing)) found;
in
{
  compared = map (p: p.option) pairs;
  mismatches = lib.filter (p: p.standIn != p.real) pairs;
  missing = map (p: p.missing) (lib.filter (p: p ? missing) found);
}
