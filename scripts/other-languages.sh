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

# shellcheck source=scripts/fake-console.sh
source scripts/fake-console.sh
start_fake_console console-python-proof-key "$work/mock-server.log"
PYTHONPATH="$py" "$venv/bin/python" other-languages/python/use_client.py "$FAKE_CONSOLE_URL" console-python-proof-key
