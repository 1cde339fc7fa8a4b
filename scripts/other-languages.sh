#!/usr/bin/env bash
# Proof that other-language teams can use spec/openapi.yaml (nothing generated is committed):
#  - TypeScript: openapi-typescript (pinned) generates types; tsc --strict type-checks
#    other-languages/typescript/usage.ts, which uses both operations and their errors.
#  - Python: openapi-python-client (pinned) generates a client; other-languages/python/use_client.py
#    calls both operations against the standalone fake Console and checks the typed results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

openapi_typescript=openapi-typescript@7.13.0
typescript=typescript@5.9.3
openapi_python_client=openapi-python-client==0.29.1
work=target/other-languages
mkdir -p "$work"

echo "== TypeScript: $openapi_typescript + $typescript, tsc --strict"
ts=$work/typescript
mkdir -p "$ts"
if [ ! -x "$ts/node_modules/.bin/tsc" ] || [ ! -x "$ts/node_modules/.bin/openapi-typescript" ]; then
  npm install --no-audit --no-fund --silent --prefix "$ts" "$openapi_typescript" "$typescript"
fi
cp other-languages/typescript/usage.ts other-languages/typescript/tsconfig.json "$ts/"
"$ts/node_modules/.bin/openapi-typescript" spec/openapi.yaml --output "$ts/schema.d.ts"
"$ts/node_modules/.bin/tsc" --project "$ts/tsconfig.json"
echo "typescript: usage.ts type-checks under --strict: ok"

echo "== Python: $openapi_python_client against the standalone fake Console"
venv=${OTHER_LANGUAGES_VENV:-$work/venv}
if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('openapi-python-client') == '${openapi_python_client#*==}'" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$openapi_python_client"
fi
py=$work/python
rm -rf "$py" && mkdir -p "$py"
"$venv/bin/openapi-python-client" generate --path spec/openapi.yaml --meta none \
  --config other-languages/python/openapi-python-client.yaml --output-path "$py/statsig_console_client"

cargo build --quiet --locked --example mock_server --features mock
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
key=console-python-proof-key
log=$work/mock-server.log
./target/debug/examples/mock_server --port "$port" --api-key "$key" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "the fake Console did not start" >&2; exit 1; }
  sleep 0.1
done
PYTHONPATH="$py" "$venv/bin/python" other-languages/python/use_client.py "http://127.0.0.1:$port" "$key"
