#!/usr/bin/env bash
# Mutation testing (StrykerJS, vitest runner) over the code whose bugs are silent: the ops'
# VJPs, the tape, gradcheck, and nn's hand-written backprop. Slow (a full run is hours on
# 2 cores), so not part of CI: run one area at a time.
#
#   scripts/mutation.sh [area] [extra stryker options]
#
#   area      what is mutated                         tests run against each mutant
#   math      packages/core/src/ops/math.ts           core's tests and the op properties (quick start)
#   ops       packages/core/src/ops/**/*.ts           the same
#   tape      packages/core/src/tape.ts               the same
#   gradcheck packages/core/src/testing/gradcheck.ts  the same
#   manual    packages/nn/src/manual/**/*.ts          nn's backprop tests and properties
#   all       all of the above (the default set of stryker.config.mjs)
#   <file>    any source file or glob, with core's tests
#
# Reports: reports/mutation/mutation.html and .json; the score and the surviving mutants are
# printed at the end. e.g. scripts/mutation.sh math --concurrency 1
set -euo pipefail
cd "$(dirname "$0")/.."
area="${1:-math}"
shift || true
tests=core
case "$area" in
  math) mutate='packages/core/src/ops/math.ts' ;;
  ops) mutate='packages/core/src/ops/**/*.ts' ;;
  tape) mutate='packages/core/src/tape.ts' ;;
  gradcheck) mutate='packages/core/src/testing/gradcheck.ts' ;;
  manual) mutate='packages/nn/src/manual/**/*.ts'; tests=manual ;;
  all) mutate=''; tests=core,manual ;;
  *) mutate="$area" ;;
esac
export MUTATION_TESTS="$tests"
if [ -n "$mutate" ]; then
  exec npx stryker run stryker.config.mjs --mutate "$mutate" "$@"
else
  exec npx stryker run stryker.config.mjs "$@"
fi
