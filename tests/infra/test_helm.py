"""The umbrella chart lints and renders for dev and prod (infra/check_helm.sh, real helm), and the rendered
manifests keep their promises: GPU placement for the proxy pool and raters, credentials only from Secrets."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "quarry"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("helm")
    proc = subprocess.run(
        ["bash", str(REPO / "infra" / "check_helm.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode == 77:
        pytest.skip(f"no helm could be installed here: {proc.stderr.strip()[-500:]}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "check_helm: ok" in proc.stdout
    return {
        env: [d for d in yaml.safe_load_all((out / f"{env}.yaml").read_text()) if d]
        for env in ("dev", "prod")
    }


def _helm() -> str:
    return os.environ.get("HELM") or shutil.which("helm") or str(REPO / ".quarry" / "bin" / "helm")


def _one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, (kind, name_suffix, [d["metadata"]["name"] for d in docs])
    return found[0]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "Deployment":
        return list(doc["spec"]["template"]["spec"]["containers"])
    if doc["kind"] == "DaskCluster":
        return [*doc["spec"]["worker"]["spec"]["containers"], *doc["spec"]["scheduler"]["spec"]["containers"]]
    if doc["kind"] == "DaskWorkerGroup":
        return list(doc["spec"]["worker"]["spec"]["containers"])
    return []


def test_both_values_files_render(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, docs in rendered.items():
        kinds = sorted(d["kind"] for d in docs)
        pools_job = ["Job"] if env == "prod" else []  # Airflow is enabled in prod only
        assert kinds == sorted(
            [
                "ConfigMap",
                "DaskCluster",
                "DaskWorkerGroup",
                "Deployment",
                "Service",
                "ServiceAccount",
                *pools_job,
            ]
        )
        assert not [d for d in docs if d["kind"] == "Secret"], env


def test_gpu_pools_are_placed_on_gpu_nodes_in_prod(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["prod"]
    pool = _one(docs, "DaskWorkerGroup", "proxy-gpu")["spec"]["worker"]
    assert pool["spec"]["nodeSelector"] == {"quarry.io/pool": "proxy", "nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pool["spec"][
        "tolerations"
    ]
    worker = pool["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--resources" in worker["args"] and "GPU=1" in worker["args"]
    vllm = _one(docs, "Deployment", "vllm")["spec"]["template"]["spec"]
    assert vllm["nodeSelector"]["nvidia.com/gpu.present"] == "true"
    assert vllm["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert vllm["containers"][0]["image"].startswith("vllm/vllm-openai:")
    assert vllm["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    cpu_workers = _one(docs, "DaskCluster")["spec"]["worker"]["spec"]
    assert "tolerations" not in cpu_workers  # CPU workers stay off the GPU nodes


def test_services_are_wired_through_the_configmap(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for docs in rendered.values():
        config = _one(docs, "ConfigMap")["data"]
        cluster = _one(docs, "DaskCluster")["metadata"]["name"]
        assert config["QUARRY_DASK_SCHEDULER"].startswith(f"tcp://{cluster}-scheduler.")
        service = _one(docs, "Service", "vllm")
        assert config["QUARRY_RATER_URL"].startswith(f"http://{service['metadata']['name']}.")
        assert config["QUARRY_PUBLISH_URL"].startswith("s3://")


def test_airflow_pools_are_created_with_one_slot_per_gpu(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The cluster gets the pools the DAGs use, as infra/airflow_setup.sh does locally (prod: 4 GPU workers)."""
    job = _one(rendered["prod"], "Job", "airflow-pools")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:5] == ["airflow", "pools", "set", "gpu", "4"]
    conn = {e["name"]: e for e in container["env"]}["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert conn["valueFrom"]["secretKeyRef"] == {"name": "quarry-airflow-metadata", "key": "connection"}
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert not [d for d in rendered["dev"] if d["kind"] == "Job"]  # no Airflow in dev: no pools job


def test_credentials_only_come_from_secrets(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for env, docs in rendered.items():
        text = yaml.safe_dump_all(docs)
        assert "aws_secret_access_key: " not in text.lower().replace("name: aws_secret_access_key", "")
        config = _one(docs, "ConfigMap")["data"]
        assert not [k for k in config if "SECRET" in k or k == "AWS_ACCESS_KEY_ID"], env
        for doc in docs:
            for container in _containers(doc):
                if container["name"] == "scheduler" or container["name"] == "vllm":
                    continue
                env_vars = {e["name"]: e for e in container.get("env", [])}
                for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                    assert "value" not in env_vars[name], (env, doc["kind"], name)
                    assert env_vars[name]["valueFrom"]["secretKeyRef"]["name"] == "quarry-s3"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("s3.credentials.existingSecret=", "s3.credentials.existingSecret is required"),
        ("quarry.extraEnv.MY_SECRET=x", "looks like a credential"),
        ("s3.credentials.source=inline", "/s3/credentials/source"),  # values.schema.json
    ],
)
def test_unsafe_values_are_refused(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path, override: str, message: str
) -> None:
    chart = tmp_path / "quarry"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta.pop("dependencies", None)  # the subcharts are not fetched here (see infra/check_helm.sh)
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    proc = subprocess.run(
        [_helm(), "template", "q", str(chart), "-f", str(chart / "values-dev.yaml"), "--set", override],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HELM_CACHE_HOME": str(tmp_path / "c"), "HELM_CONFIG_HOME": str(tmp_path / "g")},
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_iam_mode_injects_no_credentials(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    chart = tmp_path / "quarry"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta.pop("dependencies", None)
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    proc = subprocess.run(
        [
            _helm(),
            "template",
            "q",
            str(chart),
            "-f",
            str(chart / "values-prod.yaml"),
            "--set",
            "s3.credentials.source=none",
            "--set",
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HELM_CACHE_HOME": str(tmp_path / "c"), "HELM_CONFIG_HOME": str(tmp_path / "g")},
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert "AWS_SECRET_ACCESS_KEY" not in proc.stdout
    assert _one(docs, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:x"}
