#!/usr/bin/env bash
# Builds every Placement artifact into out/:
#   out/bin/placement              admin CLI + node agent + prefetch controller (NativeAOT)
#   out/bin/placement-load-sensor  Grid Engine load sensor (NativeAOT)
#   out/bin/placement-pyxis-importer  pyxis importer (sh wrapper: exec placement pyxis-importer "$@")
#   out/lib/libplacement.so        NativeAOT core library behind the SPANK shim
#   out/lib/spank_placement.so     SPANK plugin for plugstack.conf (C, native/)
#   out/lib/placement-holder       holds each Slurm step's container (C, static, native/holder.c)
# Usage: ./build.sh [install [PREFIX] | deb]
#   install copies to PREFIX/bin and PREFIX/lib/placement (default PREFIX=/usr);
#   deb also writes out/placement_VERSION_amd64.deb (deploy/debian/mkdeb; docs/install.md)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
OUT=$ROOT/out
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need_pkgs=()
command -v gcc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v make >/dev/null || need_pkgs+=(make)
[ -f /usr/include/slurm/spank.h ] || need_pkgs+=(libslurm-dev)
# NativeAOT links with clang or gcc plus zlib headers
[ -f /usr/include/zlib.h ] || need_pkgs+=(zlib1g-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "build: installing ${need_pkgs[*]}"
  [ "$(id -u)" = 0 ] || { echo "build: missing packages ${need_pkgs[*]}; run as root or install them" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Binaries are replaced by rename, not overwritten: a running load sensor (sge_execd keeps one) makes cp fail
# with ETXTBSY, and the new mtime makes execd restart the sensor with the new build.
publish() { # publish PROJECT DEST
  local tmp
  tmp=$OUT/.publish/$(basename "$1")
  dotnet publish "$1" -c Release -r linux-x64 -o "$tmp" --nologo -v quiet -p:TreatWarningsAsErrors=true
  mkdir -p "$2"
  find "$tmp" -maxdepth 1 -type f ! -name '*.dbg' ! -name '*.pdb' ! -name '*.json' ! -name '*.xml' -exec sh -c 'for f; do cp -f "$f" "$0/.${f##*/}.new" && mv -f "$0/.${f##*/}.new" "$0/${f##*/}"; done' "$2" {} +
}

start=$(date +%s)
mkdir -p "$OUT/bin" "$OUT/lib"
publish src/Prefetcher "$OUT/bin"
publish src/LoadSensor "$OUT/bin"
publish src/SpankShim "$OUT/lib"
make -s -C native OUT="$OUT/lib"
install -m 0755 deploy/slurm/placement-pyxis-importer "$OUT/bin/"
rm -rf "$OUT/.publish" "$OUT/lib/obj"
echo "build: artifacts in $OUT ($(( $(date +%s) - start )) s)"
ls -l "$OUT/bin" "$OUT/lib" | sed 's/^/  /'

if [ "${1:-}" = install ]; then
  PREFIX=${2:-/usr}
  install -d "$PREFIX/bin" "$PREFIX/lib/placement"
  install -m 0755 "$OUT/bin/placement" "$OUT/bin/placement-load-sensor" "$OUT/bin/placement-pyxis-importer" "$PREFIX/bin/"
  install -m 0755 "$OUT/lib/libplacement.so" "$OUT/lib/spank_placement.so" "$OUT/lib/placement-holder" "$PREFIX/lib/placement/"
  echo "build: installed into $PREFIX/bin and $PREFIX/lib/placement"
fi
if [ "${1:-}" = deb ]; then
  deb=$(deploy/debian/mkdeb "$OUT" "$OUT")
  echo "build: Debian package $deb"
fi
