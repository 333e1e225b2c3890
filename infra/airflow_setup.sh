#!/usr/bin/env bash
# Prepare Airflow for Quarry's DAGs (idempotent): the metadata DB and the pools the DAGs use.
#
#   source <(bash infra/airflow_setup.sh --env)   # print the environment the README's Airflow commands use
#   bash infra/airflow_setup.sh                   # migrate the metadata DB, create/update the pools
#
# Pools: `gpu` bounds how many proxy-training tasks run at once (proxy_sweep, nightly_mixture's sweep); its
# slots come from $QUARRY_GPU_POOL_SLOTS (default 1: one local device). The helm chart creates the same pool.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.quarry/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$REPO/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$REPO/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export PATH="$REPO/.venv/bin:$PATH"

if [[ "${1:-}" == "--env" ]]; then
  for var in AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER AIRFLOW__CORE__PLUGINS_FOLDER AIRFLOW__CORE__LOAD_EXAMPLES \
             AIRFLOW__CORE__PARALLELISM PATH; do
    printf 'export %s=%q\n' "$var" "${!var}"
  done
  exit 0
fi

mkdir -p "$AIRFLOW_HOME"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
airflow pools set gpu "${QUARRY_GPU_POOL_SLOTS:-1}" "Quarry proxy training (one slot per GPU)" > /dev/null
echo "airflow ready: AIRFLOW_HOME=$AIRFLOW_HOME, dags $AIRFLOW__CORE__DAGS_FOLDER, pool gpu=${QUARRY_GPU_POOL_SLOTS:-1}"
