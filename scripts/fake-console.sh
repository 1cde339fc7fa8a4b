# Sourced by the scripts that need the standalone fake Console (not run on its own).
#   start_fake_console KEY LOG [mock serve options...]
# builds the command-line tool, starts `statsig-console mock serve` on a free loopback port
# with KEY, waits until it listens, stops it when the calling script exits, and sets
# FAKE_CONSOLE_URL.
start_fake_console() {
  local key=$1 log=$2
  shift 2
  cargo build --quiet --locked -p statsig-console-cli
  ./target/debug/statsig-console mock serve --port 0 --api-key "$key" "$@" >"$log" 2>&1 &
  FAKE_CONSOLE_PID=$!
  trap 'kill "$FAKE_CONSOLE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    FAKE_CONSOLE_URL=$(sed -n 's/^STATSIG_CONSOLE_BASE_URL=//p' "$log" 2>/dev/null)
    if [ -n "$FAKE_CONSOLE_URL" ]; then
      return 0
    fi
    kill -0 "$FAKE_CONSOLE_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  echo "the fake Console did not start" >&2
  return 1
}
