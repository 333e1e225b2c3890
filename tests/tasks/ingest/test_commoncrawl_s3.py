"""Common-Crawl-native input on a real S3 endpoint (SeaweedFS, tests/fixtures_s3.py): a prefix is listed page
by page (a small page size makes several pages of a few keys), a snapshot is selected from its published
listing, and a listed object that is missing is quarantined while the others are ingested."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from fixtures_s3 import S3Server

from tasks.ingest import FilterConfig, IngestConfig, InputSelection, run_ingest
from tasks.ingest.discover import discover
from tasks.ingest.listing import ListingStats, iter_files
from tasks.storage import Store

SNAP = "CC-MAIN-2024-33"
NPM = "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal"


def upload_cc_root(s3: S3Server, prefix: str, shared_data: Path) -> dict[str, str]:
    """Real CC captures under ``<prefix>/crawl-data/<SNAP>/segments/...`` (+ a hidden temp and the listings);
    returns {relative path below the snapshot root: source file}."""
    cc = shared_data / "crawl" / "commoncrawl"
    files = {
        f"segments/1408500800168.29/warc/{NPM}.warc.gz": cc / "npm-warc" / f"{NPM}.warc.gz",
        f"segments/1408500800168.29/wet/{NPM}.warc.wet.gz": cc / "npm-warc" / f"{NPM}.warc.wet.gz",
        f"segments/1408500800168.29/wat/{NPM}.warc.wat.gz": cc / "npm-warc" / f"{NPM}.warc.wat.gz",
        "segments/1715971058222.18/warc/whirlwind.warc.gz": cc / "whirlwind" / "whirlwind.warc.gz",
        "segments/1715971058222.18/wet/whirlwind.warc.wet.gz": cc / "whirlwind" / "whirlwind.warc.wet.gz",
        "segments/1597738.24/warc/CC-MAIN-20200808165417-20200808195417-00395.warc.gz": cc
        / "resiliparse"
        / "CC-MAIN-2020-34_sample.warc.gz",
        "segments/1597738.24/warc/.tmp-host-1-abc-partial.warc.gz": cc / "jwarc" / "cc.warc.gz",
    }
    client = s3.client()
    bucket_prefix = prefix.split("://", 1)[1].split("/", 1)[1]
    for rel, source in files.items():
        client.put_object(
            Bucket=s3.bucket, Key=f"{bucket_prefix}/crawl-data/{SNAP}/{rel}", Body=source.read_bytes()
        )
    warc = [f"crawl-data/{SNAP}/{r}" for r in files if "/warc/" in r and "/.tmp" not in r]
    warc.append(f"crawl-data/{SNAP}/segments/1597738.24/warc/never-uploaded-00007.warc.gz")
    client.put_object(
        Bucket=s3.bucket,
        Key=f"{bucket_prefix}/crawl-data/{SNAP}/warc.paths.gz",
        Body=gzip.compress("\n".join(warc).encode()),
    )
    return {r: str(s) for r, s in files.items()}


def test_s3_prefix_is_listed_page_by_page(s3_server: S3Server, s3_prefix: str, shared_data: Path) -> None:
    files = upload_cc_root(s3_server, s3_prefix, shared_data)
    snap = f"{s3_prefix}/crawl-data/{SNAP}"
    stats = ListingStats()
    listed = iter_files(snap, page_size=2, stats=stats)
    first = next(listed)
    assert stats.pages == 1 and first[0].startswith(snap + "/")  # one page fetched, not the whole prefix
    rest = list(listed)
    assert stats.pages == 4  # 8 keys (7 files + the listing), 2 per ListObjectsV2 call
    names = {u[len(snap) + 1 :] for u, _ in [first, *rest]}
    assert names == {r for r in files if "/.tmp" not in r} | {"warc.paths.gz"}  # the hidden temp is not input

    scanned = discover(s3_prefix, SNAP, InputSelection(use_listing=False, list_page_size=2))
    assert scanned.listing_pages == 4 and not scanned.listing
    assert sorted(f.url[len(snap) + 1 :] for f in scanned.files) == sorted(
        r for r in files if "/warc/" in r and "/.tmp" not in r
    )
    assert all(f.signature.startswith("etag:") for f in scanned.files) and scanned.other_format == 2


def test_s3_snapshot_from_its_listing_with_a_missing_object(
    s3_server: S3Server, s3_prefix: str, shared_data: Path, tmp_path: Path
) -> None:
    upload_cc_root(s3_server, s3_prefix, shared_data)
    config = IngestConfig(
        input=s3_prefix,
        snapshot=SNAP,
        store=str(tmp_path / "store"),
        select=InputSelection(file_retries=1, retry_delay_s=0.0),
        filters=FilterConfig(enabled=()),
        workers=0,
    )
    found = discover(config.input, SNAP, config.select)
    assert found.listing == f"{s3_prefix}/crawl-data/{SNAP}/warc.paths.gz" and len(found.files) == 4
    one = discover(config.input, SNAP, InputSelection(sample_files=1)).files
    assert len(one) == 1 and one == discover(config.input, SNAP, InputSelection(sample_files=1)).files

    result = run_ingest(config, dedup=False)
    assert result.shards == 4 and result.counts["records"] == 21  # 4 + 1 + 16 HTML responses
    assert result.counts["quarantined_file:file_not_found"] == 1 and result.documents >= 15
    (record,) = result.quarantined_files
    assert record["file"].endswith("never-uploaded-00007.warc.gz") and record["attempts"] == 2
    stored = Path(Store(config.store).path("quarantine", SNAP, "_files", f"{record['shard']}.json"))
    assert json.loads(stored.read_text()) == record
