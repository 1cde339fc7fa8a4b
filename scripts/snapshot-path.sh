#!/usr/bin/env bash
# The library built without its `codegen` feature (build.rs copies the committed snapshot):
#   1. no generator crate is in its build tree;
#   2. both paths write the same $OUT_DIR/generated.rs and $OUT_DIR/openapi.json, byte for byte;
#   3. a spec edited without regenerating fails that build, naming the spec and the way out;
#   4. the wire tests pass against that build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
snapshot=(--no-default-features --features rustls)

echo "1. the build tree without codegen"
if cargo tree --locked -p statsig-console -e normal,build "${snapshot[@]}" \
  | grep -E '(progenitor|typify|regress|openapiv3|statsig-console-codegen) v'; then
  echo "error: a generator crate is built without the codegen feature" >&2
  exit 1
fi
echo "no progenitor, typify, regress, openapiv3 or statsig-console-codegen"

# The OUT_DIR of the library's build script for a set of features.
out_dir() {
  cargo build --locked -p statsig-console --message-format=json "$@" \
    | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "build-script-executed" and "#statsig-console@" in message["package_id"]:
        print(message["out_dir"])
' | tail -1
}

echo "2. both paths write the same files"
generated=$(out_dir)
copied=$(out_dir "${snapshot[@]}")
[ -n "$generated" ] && [ -n "$copied" ] && [ "$generated" != "$copied" ] || {
  echo "error: cannot find the two build scripts' OUT_DIR ($generated, $copied)" >&2
  exit 1
}
for file in generated.rs openapi.json; do
  cmp "$generated/$file" "$copied/$file"
  echo "$file: identical ($(wc -c <"$copied/$file") bytes)"
done

echo "3. a spec edited without regenerating fails the build without codegen"
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
tar --exclude=./target --exclude=./.git --exclude='./other-languages/*/node_modules' -cf - . | tar -xf - -C "$copy"
sed -i 's/description: The name of the metric./description: The metric'"'"'s name./' "$copy/spec/openapi.yaml"
if log=$(cd "$copy" && CARGO_TARGET_DIR="$repo/target" cargo build --locked -p statsig-console "${snapshot[@]}" 2>&1); then
  echo "error: the build accepted a spec that differs from the snapshot" >&2
  exit 1
fi
echo "$log" | grep -F "spec/openapi.yaml is not the one spec/generated/client.rs was generated from" \
  | grep -F "enable the \`codegen\` feature" | grep -F "cargo xtask generate" || {
  echo "error: the failed build did not say why:" >&2
  echo "$log" >&2
  exit 1
}

echo "4. the wire tests against the build without codegen"
cargo test --locked -p statsig-console --test wire "${snapshot[@]}"
