#!/usr/bin/env bash
# Runs Bidroom's whole test suite on a fresh Debian machine: installs what the
# tests need (redis-server, chromium, CJK fonts, npm packages), starts a Redis
# on a loopback port for the run, then lints and runs every test with -race.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
python3 -c 'import openpyxl' >/dev/null 2>&1 || missing+=(python3-openpyxl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# One Redis for the run; tests isolate themselves by key prefix. Its port
# lies below the kernel's ephemeral range (the tests' connections take ports
# there, and a port one of them holds cannot be bound), and it must answer
# PING, or another port is tried.
if [ -z "${BIDROOM_TEST_REDIS_URL:-}" ]; then
  redis_dir=$(mktemp -d)
  trap 'kill "$(cat "$redis_dir/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
  ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  port=""
  for _ in 1 2 3 4 5; do
    try=$(( 20000 + RANDOM % (ephemeral_low - 20000) ))
    redis-server --port "$try" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
      --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
    for _ in $(seq 50); do
      if redis-cli -p "$try" ping 2>/dev/null | grep -q PONG && kill -0 "$(cat "$redis_dir/redis.pid" 2>/dev/null)" 2>/dev/null; then
        port=$try # ours: its pid file names a live process
        break
      fi
      sleep 0.1
    done
    [ -n "$port" ] && break
    kill "$(cat "$redis_dir/redis.pid" 2>/dev/null)" 2>/dev/null || true
  done
  if [ -z "$port" ]; then
    echo "redis-server did not start on any of five ports; its log:"; tail -20 "$redis_dir/redis.log"
    exit 1
  fi
  export BIDROOM_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
  log "redis on 127.0.0.1:$port"
fi

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
log "go vet"
go vet ./...
log "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

log "go test -race"
go test -race -count=1 -timeout 15m ./...

log "browser tests (playwright-core + Debian chromium)"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error && node --test)
