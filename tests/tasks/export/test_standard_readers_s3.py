"""A release on a real S3 endpoint (SeaweedFS) read with no Quarry code: DuckDB (httpfs), Hugging Face
``datasets`` and ``pyarrow.dataset`` see the same rows and repetitions as Quarry's reader, checksums are
verified with boto3 + hashlib alone, and the export works beside an S3 release. The snippets are those of
docs/CONSUMING.md."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from export_helper import ROWS_PER_SHARD
from fixtures_s3 import S3Server
from mixture_helper import BuiltMixture

from tasks.export import ExportConfig, export_release
from tasks.export.loader import ExportDataset, fetch_export
from tasks.publish import ChecksumMismatch, PublishConfig, open_mixture, publish_mixture

pytestmark = pytest.mark.integration


def _publish(built: BuiltMixture, target: str) -> str:
    cfg = PublishConfig(
        store=built.store.root, name="web-en", target=target, max_rows_per_shard=ROWS_PER_SHARD, report=False
    )
    publish_mixture(cfg)
    return f"{target}/web-en"


@pytest.fixture(scope="module")
def s3_release(s3_server: S3Server, built_mixture: BuiltMixture) -> str:
    return _publish(built_mixture, s3_server.url("readers"))


def _manifest(client: Any, release: str) -> tuple[dict[str, Any], str, list[str]]:
    """What a consumer with boto3 only does: resolve `latest`, fetch and check the manifest, list shard URLs."""
    bucket, _, prefix = release.removeprefix("s3://").partition("/")
    latest = json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}/latest")["Body"].read())
    version = f"v{latest['version']}"
    raw = client.get_object(Bucket=bucket, Key=f"{prefix}/{version}/manifest.json")["Body"].read()
    assert hashlib.sha256(raw).hexdigest() == latest["manifest_sha256"]
    manifest = json.loads(raw)
    urls = [f"{release}/{version}/{s['path']}" for s in manifest["shards"]]
    return manifest, version, urls


def _verify_shards(client: Any, manifest: dict[str, Any], urls: list[str]) -> list[str]:
    """docs/CONSUMING.md, "Checking shards without Quarry": size and sha256 of every shard."""
    bad = []
    for shard, url in zip(manifest["shards"], urls, strict=True):
        bucket, _, key = url.removeprefix("s3://").partition("/")
        digest, size = hashlib.sha256(), 0
        for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        if size != shard["size"] or digest.hexdigest() != shard["sha256"]:
            bad.append(url)
    return bad


def _duckdb(s3_server: S3Server) -> Any:
    import duckdb
    import duckdb_extension_httpfs

    ext = next(Path(duckdb_extension_httpfs.__file__).parent.glob("extensions/*/httpfs.duckdb_extension"))
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD '{ext}'")
    endpoint = s3_server.endpoint_url.removeprefix("http://")
    con.execute(
        "CREATE SECRET quarry (TYPE s3, KEY_ID ?, SECRET ?, REGION 'us-east-1', ENDPOINT ?, URL_STYLE 'path', "
        "USE_SSL false)".replace("?", "'{}'").format(
            os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], endpoint
        )
    )
    return con


def test_duckdb_datasets_and_pyarrow_read_what_quarry_reads(
    s3_server: S3Server, s3_release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mix = open_mixture(s3_release)
    quarry_rows = Counter(
        (d["id"], d["repetitions"]) for d in mix.iter_documents(columns=("id", "repetitions"))
    )
    quarry_copies = Counter(d["id"] for d in mix.iter_documents(columns=("id",), expand=True))
    manifest, version, urls = _manifest(s3_server.client(), s3_release)
    assert version == "v1" and len(urls) == len(mix.manifest.shards) > 1

    con = _duckdb(s3_server)
    rows = con.execute("SELECT id, repetitions FROM read_parquet(?)", [urls]).fetchall()
    assert Counter(rows) == quarry_rows
    copies = con.execute(  # repetitions applied in SQL: one row per copy
        "SELECT id FROM read_parquet(?), range(repetitions)", [urls]
    ).fetchall()
    assert Counter(r[0] for r in copies) == quarry_copies
    # the manifest's domain proportions are what the data says (token shares, repetitions included)
    shares = dict(
        con.execute(
            "SELECT domain, sum(n_tokens * repetitions) / (SELECT sum(n_tokens * repetitions) "
            "FROM read_parquet($1)) FROM read_parquet($1) GROUP BY domain",
            [urls],
        ).fetchall()
    )
    assert shares == pytest.approx({d: g["proportion"] for d, g in manifest["domains"].items()}, abs=1e-9)

    import datasets

    # datasets' offline switch (HF_HUB_OFFLINE=1) refuses s3:// data files too; the parquet builder is packaged
    # with datasets and needs no hub access, so the switch stays off for this call whatever the environment says
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)

    storage_options = {
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }
    hf = datasets.load_dataset(
        "parquet",
        data_files=urls,
        storage_options=storage_options,
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert Counter(zip(hf["id"], hf["repetitions"], strict=True)) == quarry_rows

    import pyarrow.dataset as pds
    from pyarrow import fs as pafs

    s3 = pafs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=s3_server.endpoint_url,
        region="us-east-1",
    )
    table = pds.dataset([u.removeprefix("s3://") for u in urls], filesystem=s3, format="parquet").to_table(
        columns=["id", "repetitions"]
    )
    assert Counter(zip(table["id"].to_pylist(), table["repetitions"].to_pylist(), strict=True)) == quarry_rows


def _read_all(mix: Any) -> None:
    for shard in mix.shards():
        mix.read_shard(shard, ["id"])


def test_checksums_without_quarry_catch_a_tampered_shard(
    s3_server: S3Server, s3_prefix: str, built_mixture: BuiltMixture
) -> None:
    release = _publish(built_mixture, s3_prefix)
    client = s3_server.client()
    manifest, _, urls = _manifest(client, release)
    assert _verify_shards(client, manifest, urls) == []
    # someone rewrites a shard in place with other, valid Parquet: a standard reader takes it silently
    bucket, _, key = urls[1].removeprefix("s3://").partition("/")
    con = _duckdb(s3_server)
    ids_before = Counter(r[0] for r in con.execute("SELECT id FROM read_parquet(?)", [urls]).fetchall())
    other = client.get_object(Bucket=bucket, Key=urls[0].removeprefix(f"s3://{bucket}/"))["Body"].read()
    client.put_object(Bucket=bucket, Key=key, Body=other)
    con = _duckdb(s3_server)  # no cached metadata
    ids_after = Counter(r[0] for r in con.execute("SELECT id FROM read_parquet(?)", [urls]).fetchall())
    assert ids_after != ids_before and max(ids_after.values()) == 2  # shard 0's documents twice, no error
    with pytest.raises(ChecksumMismatch):  # Quarry's reader refuses it ...
        _read_all(open_mixture(release))
    # ... and so does the documented check, with boto3 and hashlib only
    assert _verify_shards(client, manifest, urls) == [urls[1]]


def test_export_beside_an_s3_release(
    s3_server: S3Server, s3_release: str, tokenizer_file: str, tmp_path: Path, local_release: Any
) -> None:
    result = export_release(ExportConfig(release=s3_release, tokenizer=tokenizer_file, seq_len=64))
    assert result.url.startswith(f"{s3_release}/exports/v1/")
    local = export_release(
        ExportConfig(release=local_release.url, tokenizer=tokenizer_file, seq_len=64, out=str(tmp_path / "l"))
    )
    # the same release content gives the same bytes, wherever it is published
    assert [s.bin_sha256 for s in result.manifest.shards] == [s.bin_sha256 for s in local.manifest.shards]
    path = fetch_export(result.url, str(tmp_path / "cache"))
    ds = ExportDataset(path, batch_size=8)
    assert ds.samples_per_epoch == result.manifest.totals.sequences
    assert next(iter(ds)).shape == (8, 64)
