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

# One Redis for the run; tests isolate themselves by key prefix.
if [ -z "${BIDROOM_TEST_REDIS_URL:-}" ]; then
  port=$(( 20000 + RANDOM % 20000 ))
  redis_dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
    --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
  trap 'kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || true; rm -rf "$redis_dir"' EXIT
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
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
