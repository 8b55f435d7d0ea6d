#!/usr/bin/env bash
# Installs what the build needs when it is missing: OpenBLAS, LAPACKE, Open MPI (data-parallel runs
# under mpirun; the build links it), iproute2 (the two-host MPI test), pkg-config and binutils (ar,
# for the fuzz targets' libraries; the Swift toolchain brings clang and libFuzzer) (Debian/Ubuntu).
set -euo pipefail
missing=()
for p in libopenblas-dev liblapacke-dev libopenmpi-dev openmpi-bin iproute2 pkg-config binutils; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null 2>&1 || { echo "error: the Swift toolchain (swift) is not on PATH; install Swift 6 first" >&2; exit 2; }
