#!/usr/bin/env bash
# Bootstraps (scripts/bootstrap.sh), configures build/ with CMake + Ninja on first use, and builds.
# The service binary ends up at build/bin/raydeploy.
# Extra arguments are passed to `cmake --build` (e.g. --target raydeploy).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

bash scripts/bootstrap.sh

cmake_args=(-S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if command -v ccache >/dev/null 2>&1; then
    # Paths relative to the repo root and no working directory in the hash: a fresh clone
    # of the repository on the same machine hits the cache of an earlier one.
    export CCACHE_BASEDIR="$REPO_ROOT"
    export CCACHE_NOHASHDIR=true
    # The core library uses a precompiled header (lib/CMakeLists.txt); without these ccache
    # refuses every compilation as "could not use precompiled header" and caches nothing.
    export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
    cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

if [[ ! -f build/build.ninja ]]; then
    cmake "${cmake_args[@]}"
    # Keep the build tree out of git even without a top-level .gitignore entry.
    [[ -f build/.gitignore ]] || printf '*\n' >build/.gitignore
fi

cmake --build build -j"$(nproc)" "$@"
