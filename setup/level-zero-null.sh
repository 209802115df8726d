#!/usr/bin/env bash
# Build, or reuse, Debian's Level Zero loader with the loader's null driver.
#
#   setup/level-zero-null.sh OUT_DIR
#
# Debian packages the loader (libze1) but not the null driver its source builds: a driver that
# answers as one GPU ("Null Device") with no hardware behind it, enabled by ZE_ENABLE_NULL_DRIVER=1.
# This fetches Debian's source package level-zero (adding a deb-src entry for the mirror libze1
# comes from when apt has none), builds the loader and the null driver with cmake, and installs
# libze_loader.so* and libze_null.so* into OUT_DIR, with the API headers in OUT_DIR/include (the
# struct layouts the probe's ctypes mirror). Use it the way a user would:
#
#   LD_LIBRARY_PATH=OUT_DIR ZE_ENABLE_NULL_DRIVER=1 xpu doctor
#
# Needs root or sudo for apt (cmake, g++, make, dpkg-dev and the source entry). An OUT_DIR that
# already holds a working build is reused as it is. Quiet on success (one line on stderr); on
# failure it prints the build log and exits 1.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
stamp_file=$out/.xpu-level-zero-null
src_list=/etc/apt/sources.list.d/xpu-level-zero-src.sources

# Does OUT_DIR's loader, with the null driver on, enumerate one driver with one GPU?
works() {
  [ -e "$1/libze_loader.so.1" ] && [ -e "$1/libze_null.so.1" ] && [ -e "$1/include/ze_api.h" ] || return 1
  LD_LIBRARY_PATH=$1 ZE_ENABLE_NULL_DRIVER=1 python3 - "$1" <<'EOF'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1] + "/libze_loader.so.1")
n = ctypes.c_uint32(0)
assert lib.zeInit(0) == 0 and lib.zeDriverGet(ctypes.byref(n), None) == 0 and n.value == 1
driver = (ctypes.c_void_p * 1)()
assert lib.zeDriverGet(ctypes.byref(n), driver) == 0
assert lib.zeDeviceGet(ctypes.c_void_p(driver[0]), ctypes.byref(n), None) == 0 and n.value == 1
EOF
}

if [ -f "$stamp_file" ] && works "$out" 2>/dev/null; then
  echo "level-zero-null: reusing $out ($(cat "$stamp_file"))" >&2
  exit 0
fi

command -v python3 >/dev/null || { echo "level-zero-null: python3 is needed to check the build" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "level-zero-null: needs root or sudo for apt-get" >&2; exit 1; }
  sudo=sudo
fi

work=$(mktemp -d)
log=$work/build.log
trap 'rm -rf "$work"' EXIT
fail() {
  cat "$log" >&2
  echo "level-zero-null: $1 failed" >&2
  exit 1
}
started=$SECONDS

# The deb-src twin of the entry that serves libze1: the same mirror, suite, component and key.
add_source_entry() {
  local site release component entry file index keyring
  read -r site release component entry < <(
    # shellcheck disable=SC2016 # $(SITE) and the like are apt-get's format fields, not the shell's
    apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT) $(SOURCESENTRY)' 'Identifier: Packages' |
      while read -r s r c e; do
        apt-cache madison libze1 | grep -qF "| $s $r/$c " && { echo "$s $r $c $e"; break; }
      done
  )
  [ -n "${site:-}" ] || { echo "no apt entry serves libze1" >>"$log"; return 1; }
  file=${entry%:*}
  index=${entry##*:}
  if [[ $file == *.sources ]]; then # deb822: the index-th stanza's Signed-By, if it names a file
    keyring=$(awk -v RS= -v n="$index" 'NR == n' "$file" | sed -n 's/^Signed-By:[[:space:]]*\(\/[^[:space:]]*\)$/\1/p')
  else # one-line format: [signed-by=...] on line index
    keyring=$(sed -n "${index}s/.*signed-by=\([^] ]*\).*/\1/p" "$file")
  fi
  {
    echo "# Added by intel-xpu's setup/level-zero-null.sh: Debian's level-zero source package."
    echo "Types: deb-src"
    echo "URIs: $site"
    echo "Suites: $release"
    echo "Components: $component"
    [ -z "$keyring" ] || echo "Signed-By: $keyring"
  } | $sudo tee "$src_list" >/dev/null
}

{
  missing=()
  for pkg in cmake g++ make dpkg-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if ! apt-cache showsrc level-zero 2>/dev/null | grep '^Package: level-zero' >/dev/null; then
    if [ ! -f "$src_list" ]; then
      apt-cache madison libze1 | grep . >/dev/null || $sudo apt-get update -qq # no package lists yet
      add_source_entry
    fi
    $sudo apt-get update -qq
  elif [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
} >>"$log" 2>&1 || fail "setting up apt (deb-src entry, build tools)"

(cd "$work" && apt-get source -q level-zero) >>"$log" 2>&1 || fail "apt-get source level-zero"
srcdir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'level-zero-*' | head -n1)
version=$(cd "$srcdir" && dpkg-parsechangelog -S Version 2>>"$log") || fail "reading the source version"

# Only the two libraries (not the validation and tracing layers or the sample), as Debian builds them.
{
  cmake -S "$srcdir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$work/build" --target ze_loader ze_null -j "$(nproc)"
} >>"$log" 2>&1 || fail "building level-zero $version"

# Check the build where it was made, then replace only this script's files in OUT_DIR; the stamp,
# written last, marks a complete install.
mkdir -p "$work/build/lib/include"
(cd "$srcdir/include" && cp --parents ./*.h loader/*.h layers/*.h "$work/build/lib/include/") >>"$log" 2>&1 ||
  fail "copying the headers"
works "$work/build/lib" >>"$log" 2>&1 || fail "the built loader enumerating the null driver's GPU"
mkdir -p "$out"
rm -rf "$stamp_file" "$out"/libze_loader.so* "$out"/libze_null.so* "$out/include"
cp -a "$work"/build/lib/libze_loader.so* "$work"/build/lib/libze_null.so* "$work/build/lib/include" "$out"/
echo "level-zero $version loader + null driver" >"$stamp_file"
echo "level-zero-null: built level-zero $version (loader + null driver) into $out in $((SECONDS - started)) s" >&2
