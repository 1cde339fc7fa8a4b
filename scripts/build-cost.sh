#!/usr/bin/env bash
# What the library costs to build, each figure from a fresh target directory:
# a clean `cargo build` with default features, a no-op rebuild, and a rebuild after touching
# src/lib.rs (which must not rerun build.rs). Prints the figures and the machine they came from.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
export CARGO_TARGET_DIR=$target

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }

cargo fetch --locked >/dev/null 2>&1
clean=$(seconds cargo build --locked --package statsig-console)
noop=$(seconds cargo build --locked --package statsig-console)
generated_at() { stat -c %Y.%N "$target"/debug/build/statsig-console-*/out/generated.rs 2>/dev/null | sort | tail -1; }
before=$(generated_at)
touch src/lib.rs
touched=$(seconds cargo build --locked --package statsig-console)
if [ "$(generated_at)" = "$before" ]; then reran=no; else reran=yes; fi

printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
printf 'toolchain: %s\n' "$(rustc --version)"
printf 'clean build, default features:  %6.1f s\n' "$clean"
printf 'no-op rebuild:                  %6.1f s\n' "$noop"
printf 'rebuild after touching lib.rs:  %6.1f s\n' "$touched"
printf 'build.rs reran for the touch:   %s\n' "$reran"
