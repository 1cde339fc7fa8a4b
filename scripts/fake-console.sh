# Sourced by the scripts that need the standalone fake Console (not run on its own).
#   start_fake_console KEY LOG [mock_server options...]
# builds examples/mock_server, starts it on a free loopback port with KEY, waits until it
# listens, stops it when the calling script exits, and sets FAKE_CONSOLE_URL.
start_fake_console() {
  local key=$1 log=$2 port
  shift 2
  cargo build --quiet --locked --example mock_server
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  ./target/debug/examples/mock_server --port "$port" --api-key "$key" "$@" >"$log" 2>&1 &
  FAKE_CONSOLE_PID=$!
  trap 'kill "$FAKE_CONSOLE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$log" 2>/dev/null; then
      FAKE_CONSOLE_URL="http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$FAKE_CONSOLE_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  echo "the fake Console did not start" >&2
  return 1
}
