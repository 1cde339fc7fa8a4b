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

# shellcheck source=scripts/fake-console.sh
source scripts/fake-console.sh
start_fake_console "$key" target/contract-mock-server.log --no-rate-limit

"$venv/bin/schemathesis" --config-file contract/schemathesis.toml --no-color run spec/openapi.yaml \
  --url "$FAKE_CONSOLE_URL" \
  --header "STATSIG-API-KEY: $key" \
  --checks all \
  --mode all \
  --seed "$seed" \
  --max-examples "$examples" \
  --generation-database none
