#!/usr/bin/env bash
# Contract test: schemathesis (pinned) fuzzes the standalone fake Console with spec/openapi.yaml,
# positive and negative data, every check. Zero failures or it exits non-zero.
#
#   scripts/contract-test.sh            # local or CI; needs python3 and cargo
#   CONTRACT_SEED=123 scripts/contract-test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

schemathesis_version=4.32.5
venv=${CONTRACT_VENV:-target/contract-venv}
seed=${CONTRACT_SEED:-20240601}
examples=${CONTRACT_MAX_EXAMPLES:-300}
key=console-contract-test-key

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

cargo build --quiet --locked --example mock_server --features mock

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=target/contract-mock-server.log
./target/debug/examples/mock_server --port "$port" --api-key "$key" --no-rate-limit >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "the fake Console did not start" >&2; exit 1; }
  sleep 0.1
done

"$venv/bin/schemathesis" --config-file contract/schemathesis.toml --no-color run spec/openapi.yaml \
  --url "http://127.0.0.1:$port" \
  --header "STATSIG-API-KEY: $key" \
  --checks all \
  --mode all \
  --seed "$seed" \
  --max-examples "$examples" \
  --generation-database none
