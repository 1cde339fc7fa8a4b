#!/usr/bin/env bash
# What the library costs a user to build, each figure from a fresh target directory, one after
# the other on the same machine:
#   1. a small downstream crate that depends on statsig-console and makes both calls, built
#      twice: with the default features (the client generated in build.rs by progenitor), and
#      with `default-features = false, features = ["rustls"]` (build.rs copies the committed
#      snapshot, and no generator crate is compiled); against the same crate written by hand on
#      reqwest + serde with exactly the library's reqwest features and TLS backend
#      (benches/baseline.rs); prints the three and the two ratios;
#   2. the library itself: a no-op rebuild, and a rebuild after touching src/lib.rs (which must
#      not rerun build.rs).
# Both downstream crates resolve their dependencies from this workspace's Cargo.lock, offline, so
# they build the same versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }

cargo fetch --locked >/dev/null 2>&1

# The library's own reqwest features, read from its manifest so the two sides cannot drift.
reqwest_line=$(grep -E '^reqwest = ' Cargo.toml)

mkdir -p "$work/with-crate/src" "$work/with-snapshot/src" "$work/by-hand/src"
cat >"$work/with-crate/Cargo.toml" <<EOF
[package]
name = "with-crate"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
statsig-console = { path = "$repo" }
# The downstream crate reads its inputs as JSON, as the hand-written one does.
serde_json = "1"
tokio = { version = "1.47", features = ["macros", "rt-multi-thread"] }
EOF
cat >"$work/with-crate/src/main.rs" <<'EOF'
use statsig_console::Client;
use statsig_console::types::{ExperimentOverrides, TeamCreate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let update: ExperimentOverrides = serde_json::from_str(r#"{"overrides":[],"userIDOverrides":[]}"#)?;
    let all = client.patch_experiment_overrides("checkout_flow", update).await?;
    let team: TeamCreate = serde_json::from_str(&std::env::var("TEAM")?)?;
    let created = client.create_team(team).await?;
    println!("{} overrides, team {}", all.overrides.len(), created.id);
    Ok(())
}
EOF

# The same crate on the committed snapshot: no generator in the build.
cat >"$work/with-snapshot/Cargo.toml" <<EOF
[package]
name = "with-snapshot"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
statsig-console = { path = "$repo", default-features = false, features = ["rustls"] }
serde_json = "1"
tokio = { version = "1.47", features = ["macros", "rt-multi-thread"] }
EOF
cp "$work/with-crate/src/main.rs" "$work/with-snapshot/src/main.rs"

cat >"$work/by-hand/Cargo.toml" <<EOF
[package]
name = "by-hand"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$reqwest_line
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tokio = { version = "1.47", features = ["macros", "rt-multi-thread"] }

[features]
default = ["rustls"]
rustls = ["reqwest/rustls"]
EOF
cat >"$work/by-hand/src/main.rs" <<EOF
#[allow(dead_code)]
#[path = "$repo/benches/baseline.rs"]
mod baseline;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = baseline::Baseline::new(&std::env::var("BASE_URL")?, &std::env::var("KEY")?);
    let update: baseline::Overrides = serde_json::from_str(r#"{"overrides":[],"userIDOverrides":[]}"#)?;
    let all = client.patch_overrides("checkout_flow", &update).await?;
    let team: baseline::NewTeam = serde_json::from_str(&std::env::var("TEAM")?)?;
    let created = client.create_team(&team).await?;
    println!("{} overrides, team {}", all.overrides.len(), created.id);
    Ok(())
}
EOF

build_fresh() {
  local dir=$1
  cp "$repo/Cargo.lock" "$dir/Cargo.lock"
  (cd "$dir" && CARGO_TARGET_DIR="$dir/target" seconds cargo build --offline)
}

with_crate=$(build_fresh "$work/with-crate")
with_snapshot=$(build_fresh "$work/with-snapshot")
by_hand=$(build_fresh "$work/by-hand")
for dir in with-crate with-snapshot by-hand; do
  [ -x "$work/$dir/target/debug/$dir" ] || { echo "error: the $dir crate did not build" >&2; exit 1; }
done

# The library alone: no-op and touch rebuilds.
export CARGO_TARGET_DIR=$work/library
cargo build --locked --package statsig-console >/dev/null 2>&1
noop=$(seconds cargo build --locked --package statsig-console)
generated_at() { stat -c %Y.%N "$CARGO_TARGET_DIR"/debug/build/statsig-console-*/out/generated.rs 2>/dev/null | sort | tail -1; }
before=$(generated_at)
touch src/lib.rs
touched=$(seconds cargo build --locked --package statsig-console)
if [ "$(generated_at)" = "$before" ]; then reran=no; else reran=yes; fi

printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
printf 'toolchain: %s\n' "$(rustc --version)"
printf 'downstream crate, statsig-console defaults (codegen), clean build:  %6.1f s  %5.2f x by hand\n' \
  "$with_crate" "$(echo "$with_crate / $by_hand" | bc -l)"
printf 'downstream crate, default-features = false + rustls, clean build:   %6.1f s  %5.2f x by hand\n' \
  "$with_snapshot" "$(echo "$with_snapshot / $by_hand" | bc -l)"
printf 'same crate by hand on reqwest + serde, clean build:                 %6.1f s\n' "$by_hand"
printf 'library no-op rebuild:                                               %6.1f s\n' "$noop"
printf 'library rebuild after touching src/lib.rs:                           %6.1f s\n' "$touched"
printf 'build.rs reran for the touch:                                        %s\n' "$reran"
