# Sourced by .ci/run: installs Stoplight Prism (pinned) and serves the official Media spec
# twice on loopback, static and dynamic, for the contract tests. Exports their URLs.
#
# Pinned to 5.14.2: 5.15 and later need Node 24, and CI machines have Node 20.
# --ignore-scripts: none of its packages needs an install script, and none should run.

PRISM_VERSION=5.14.2
PRISM_DIR=${PRISM_DIR:-$PWD/.prism}
PRISM_PIDS=()

_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

_wait_http() {  # PORT PID: until the port answers HTTP, the server dies, or 60 s pass
    python3 - "$1" "$2" <<'PY'
import os, sys, time, urllib.request, urllib.error
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # Prism answers / with 404: it is up
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"prism on port {port} exited early")
        time.sleep(0.2)
sys.exit(f"prism on port {port} not ready after 60 s")
PY
}

prism_stop() {
    local pid
    for pid in "${PRISM_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PRISM_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PRISM_PIDS=()
}

prism_up() {  # SPEC
    local spec=$1 bin="$PRISM_DIR/node_modules/.bin/prism" static_port dynamic_port
    if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "$PRISM_VERSION" ]; then
        mkdir -p "$PRISM_DIR"
        [ -f "$PRISM_DIR/package.json" ] || echo '{"private": true}' >"$PRISM_DIR/package.json"
        echo "prism: installing @stoplight/prism-cli@$PRISM_VERSION into $PRISM_DIR"
        npm install --prefix "$PRISM_DIR" --ignore-scripts --save-exact --no-audit --no-fund \
            "@stoplight/prism-cli@$PRISM_VERSION" >"$PRISM_DIR/npm-install.log" 2>&1 \
            || { cat "$PRISM_DIR/npm-install.log"; return 1; }
    fi
    static_port=$(_free_port)
    dynamic_port=$(_free_port)
    "$bin" mock -v warn -h 127.0.0.1 -p "$static_port" "$spec" >"$PRISM_DIR/static.log" 2>&1 &
    PRISM_PIDS+=($!)
    "$bin" mock -v warn -d --seed 42 -h 127.0.0.1 -p "$dynamic_port" "$spec" \
        >"$PRISM_DIR/dynamic.log" 2>&1 &
    PRISM_PIDS+=($!)
    _wait_http "$static_port" "${PRISM_PIDS[0]}" || { cat "$PRISM_DIR/static.log"; return 1; }
    _wait_http "$dynamic_port" "${PRISM_PIDS[1]}" || { cat "$PRISM_DIR/dynamic.log"; return 1; }
    export TWILIO_MEDIA_PRISM_URL="http://127.0.0.1:$static_port"
    export TWILIO_MEDIA_PRISM_DYNAMIC_URL="http://127.0.0.1:$dynamic_port"
    echo "prism: static $TWILIO_MEDIA_PRISM_URL, dynamic $TWILIO_MEDIA_PRISM_DYNAMIC_URL"
}
