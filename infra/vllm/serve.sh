#!/usr/bin/env bash
# Start the local vLLM-on-CPU OpenAI-compatible server on 127.0.0.1 and wait until it answers.
#
#   infra/vllm/serve.sh [PORT]          PORT defaults to $QUARRY_VLLM_PORT or 8000
#
# The server runs in the background in its own process group; its pid goes to $QUARRY_VLLM_RUN_DIR/vllm-PORT.pid
# and its log to vllm-PORT.log (run dir default: <repo>/.quarry/run). The script exits 0 once
# http://127.0.0.1:PORT/v1/models answers, printing the base URL (…/v1); non-zero (with the log tail) if the
# server died or was not ready within $QUARRY_VLLM_READY_TIMEOUT seconds (default 600: a loaded 2-core machine can take minutes). Stop it with
#   kill -TERM -- -"$(cat .quarry/run/vllm-PORT.pid)"
# Run ./setup.sh first (it is idempotent). The same client code talks to a GPU deployment by URL alone.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${QUARRY_VLLM_VENV:-$REPO/.venv-vllm}"
MODEL_DIR="${QUARRY_VLLM_MODEL_DIR:-$REPO/.quarry/models/smollm2-135m-instruct}"
RUN_DIR="${QUARRY_VLLM_RUN_DIR:-$REPO/.quarry/run}"
PORT="${1:-${QUARRY_VLLM_PORT:-8000}}"
TIMEOUT="${QUARRY_VLLM_READY_TIMEOUT:-600}"
MAX_LEN="${QUARRY_VLLM_MAX_MODEL_LEN:-2048}"
SERVED_NAME="${QUARRY_VLLM_SERVED_NAME:-smollm2-135m-instruct}"
# bf16 needs avx512_bf16/AMX on a CPU; without them (AVX2 only) vLLM emulates it and float32 prefills ~4x faster.
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then DEFAULT_DTYPE=bfloat16; else DEFAULT_DTYPE=float32; fi
DTYPE="${QUARRY_VLLM_DTYPE:-$DEFAULT_DTYPE}"

if [[ ! -x "$VENV/bin/python" || ! -f "$VENV/.quarry-vllm-ready" ]]; then
  echo "vLLM venv missing at $VENV: run infra/vllm/setup.sh first" >&2; exit 2
fi
if [[ ! -f "$MODEL_DIR/config.json" ]]; then
  echo "model missing at $MODEL_DIR: run infra/vllm/setup.sh first" >&2; exit 2
fi
mkdir -p "$RUN_DIR"
PIDFILE="$RUN_DIR/vllm-$PORT.pid"
LOG="$RUN_DIR/vllm-$PORT.log"
URL="http://127.0.0.1:$PORT"

if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  if curl -fsS "$URL/v1/models" > /dev/null 2>&1; then
    echo "$URL/v1"; exit 0
  fi
  echo "a process from $PIDFILE is alive but $URL does not answer; stop it first" >&2; exit 3
fi

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT on 127.0.0.1 is in use by another program: pass another port (infra/vllm/serve.sh PORT)" >&2; exit 3
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 VLLM_HOST_IP=127.0.0.1
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
# setsid: own process group, so the caller can stop the server and its engine process together.
setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
  --model "$MODEL_DIR" --served-model-name "$SERVED_NAME" \
  --host 127.0.0.1 --port "$PORT" \
  --max-model-len "$MAX_LEN" --dtype "$DTYPE" --enforce-eager --max-logprobs 20 \
  > "$LOG" 2>&1 < /dev/null &
PID=$!
echo "$PID" > "$PIDFILE"

deadline=$(( $(date +%s) + TIMEOUT ))
until curl -fsS "$URL/v1/models" > /dev/null 2>&1; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "vLLM server exited before it was ready; last lines of $LOG:" >&2; tail -n 40 "$LOG" >&2; rm -f "$PIDFILE"; exit 1
  fi
  if (( $(date +%s) > deadline )); then
    echo "vLLM server not ready after ${TIMEOUT}s; stopping it. Last lines of $LOG:" >&2; tail -n 40 "$LOG" >&2
    kill -TERM -- "-$PID" 2>/dev/null || true; rm -f "$PIDFILE"; exit 1
  fi
  sleep 1
done
echo "$URL/v1"
