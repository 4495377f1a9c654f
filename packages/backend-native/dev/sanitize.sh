#!/bin/sh
# Builds dev/sanitize.cc with the addon's kernels (not the N-API glue) under AddressSanitizer
# + UndefinedBehaviorSanitizer, then under ThreadSanitizer, and runs both. Dev check only.
#   sh packages/backend-native/dev/sanitize.sh
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../src/native"
out=${TMPDIR:-/tmp}/tapegrad-sanitize
mkdir -p "$out"
files="$here/sanitize.cc $src/gemm.cc $src/background.cc $src/conv.cc $src/cpu.cc $src/kernels_scalar.cc $src/kernels_avx2.cc $src/kernels_avx512.cc"
flags="-O1 -g -std=c++17 -pthread -ffp-contract=off -fno-math-errno -fno-omit-frame-pointer"
${CXX:-g++} $flags -fsanitize=address,undefined -fno-sanitize-recover=undefined $files -o "$out/asan"
echo "ASan + UBSan:"; "$out/asan"
${CXX:-g++} $flags -fsanitize=thread $files -o "$out/tsan"
echo "TSan:"; TSAN_OPTIONS=halt_on_error=1 "$out/tsan"
