"""Records whose Content-Length lies, and stray bytes between records (issue 11): real Common Crawl records,
corrupted the way real crawl files are. A lying record costs itself only: it is quarantined as
``content_length_mismatch`` at its own offset, and every other record is read with exactly its own bytes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawlgen import article_html, gzip_members, readable_articles, set_content_length, warc_header

from tasks.ingest.records import Bad, Item, Record, Skipped, read_file
from tasks.ingest.sample_snapshot import warc_record

SAMPLE = "crawl/commoncrawl/resiliparse/CC-MAIN-2020-34_sample.warc.gz"
LIES = {
    "too_long": lambda n: str(n + 3000),  # swallows the next records' headers
    "too_short": lambda n: str(n // 2),  # leaves half the page behind
    "not_a_number": lambda n: f"{n}abc",
}


@pytest.fixture(scope="module")
def sample(shared_data: Path) -> tuple[list[bytes], list[bytes]]:
    """The real file's gzip members and their uncompressed records (one record per member)."""
    members = gzip_members(shared_data / SAMPLE)
    return members, [gzip.decompress(m) for m in members]


def _responses(records: list[bytes]) -> list[int]:
    return [i for i, r in enumerate(records) if warc_header(r)["warc-type"] == "response"]


def _read(path: Path) -> tuple[list[tuple[str, bytes]], list[tuple[int, str]], list[Bad]]:
    items: list[Item] = list(read_file(str(path), "warc"))
    records = [(i.url, i.payload) for i in items if isinstance(i, Record)]
    skipped = [(n, i.record_type) for n, i in enumerate(items) if isinstance(i, Skipped)]
    return records, skipped, [i for i in items if isinstance(i, Bad)]


def _url(record: bytes) -> str:
    return warc_header(record)["warc-target-uri"]


def _write(path: Path, records: list[bytes], members: list[bytes] | None) -> Path:
    """Plain ``.warc`` from the records, or ``.warc.gz`` from the members (one per record)."""
    path.write_bytes(b"".join(members) if members is not None else b"".join(records))
    return path


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("lie", sorted(LIES))
def test_lying_content_length_costs_that_record_only(
    sample: tuple[list[bytes], list[bytes]], tmp_path: Path, compressed: bool, lie: str
) -> None:
    members, records = sample
    clean_path = _write(
        tmp_path / ("clean.warc.gz" if compressed else "clean.warc"), records, members if compressed else None
    )
    clean, clean_skipped, clean_bad = _read(clean_path)
    assert len(clean) == 16 and clean_bad == []

    k = _responses(records)[3]
    length = int(warc_header(records[k])["content-length"])
    broken = set_content_length(records[k], LIES[lie](length))
    header_end = broken.index(b"\r\n\r\n") + 4
    if lie == "too_long":  # the attack is real: trusting the length takes in the next record's header
        trusted = (broken + b"".join(records[k + 1 :]))[header_end : header_end + length + 3000]
        assert b"\r\nWARC/1." in trusted
    if lie == "too_short":  # ... or leaves half the page to be read as the next record
        assert not broken[header_end + length // 2 :].lstrip(b"\r\n").startswith(b"WARC/")
    new_records = [*records[:k], broken, *records[k + 1 :]]
    new_members = [*members[:k], gzip.compress(broken, mtime=0), *members[k + 1 :]] if compressed else None
    path = _write(tmp_path / ("lie.warc.gz" if compressed else "lie.warc"), new_records, new_members)

    got, skipped, bad = _read(path)
    unit = members if compressed else records
    assert [(b.reason, b.offset, b.url) for b in bad] == [
        ("content_length_mismatch", sum(len(u) for u in unit[:k]), _url(records[k]))
    ]
    assert got == [(url, payload) for url, payload in clean if url != _url(records[k])]
    assert [t for _, t in skipped] == [t for _, t in clean_skipped]


def test_lie_inside_a_whole_file_gzip_resyncs_on_the_next_header(
    sample: tuple[list[bytes], list[bytes]], tmp_path: Path
) -> None:
    """One gzip member for the whole file (``gzip file.warc``): no member boundary to fall back on."""
    _, records = sample
    k = _responses(records)[5]
    length = int(warc_header(records[k])["content-length"])
    for lie in ("too_long", "too_short"):
        broken = [*records[:k], set_content_length(records[k], LIES[lie](length)), *records[k + 1 :]]
        path = tmp_path / f"{lie}.warc.gz"
        path.write_bytes(gzip.compress(b"".join(broken), mtime=0))
        clean_path = tmp_path / "clean.warc.gz"
        clean_path.write_bytes(gzip.compress(b"".join(records), mtime=0))
        clean, _, _ = _read(clean_path)
        got, _, bad = _read(path)
        assert [(b.reason, b.url) for b in bad] == [("content_length_mismatch", _url(records[k]))]
        assert got == [(url, payload) for url, payload in clean if url != _url(records[k])]


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_stray_bytes_between_records_are_skipped_and_counted(
    sample: tuple[list[bytes], list[bytes]], tmp_path: Path, compressed: bool
) -> None:
    members, records = sample
    k = _responses(records)[2]
    # Real bytes where a record should start: the middle of a page, and a false gzip magic in it.
    junk = records[k][200:1200].lstrip(b"\r\n") + b"\x1f\x8b\x08\x00 not a member " + records[k + 3][-700:]
    unit = members if compressed else records
    data = b"".join(unit[: k + 1]) + junk + b"".join(unit[k + 1 :])
    path = tmp_path / ("stray.warc.gz" if compressed else "stray.warc")
    path.write_bytes(data)
    clean, clean_skipped, _ = _read(
        _write(tmp_path / path.name.replace("stray", "clean"), records, members if compressed else None)
    )

    got, skipped, bad = _read(path)
    assert got == clean and [t for _, t in skipped] == [t for _, t in clean_skipped]
    assert [(b.reason, b.offset, b.skipped_bytes) for b in bad] == [
        ("stray_bytes", sum(len(u) for u in unit[: k + 1]), len(junk))
    ]


def test_stray_bytes_before_the_first_member(sample: tuple[list[bytes], list[bytes]], tmp_path: Path) -> None:
    members, records = sample
    junk = records[_responses(records)[0]][500:1500]
    clean, _, _ = _read(_write(tmp_path / "clean.warc.gz", records, members))
    got, _, bad = _read(_write(tmp_path / "lead.warc.gz", records, [junk, *members]))
    assert got == clean
    assert [(b.reason, b.offset, b.skipped_bytes) for b in bad] == [("stray_bytes", 0, len(junk))]


def _rows(store: Path, kind: str, snapshot: str) -> list[dict[str, object]]:
    return [
        r for f in sorted((store / kind / snapshot).glob("*.parquet")) for r in pq.read_table(f).to_pylist()
    ]


def test_quarry_ingest_quarantines_lies_and_keeps_every_good_record(
    sample: tuple[list[bytes], list[bytes]],
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``quarry ingest`` over a hostile .warc.gz and .warc: exit 0, one quarantine row per lie with its file
    and offset, stray bytes counted, and every document of the clean files (the records right after each bad
    one included) with exactly its own text."""
    from tasks.cli import main

    cc_members, cc_records = sample
    responses = _responses(cc_records)
    lie_at = {responses[1]: "too_long", responses[4]: "too_short", responses[7]: "not_a_number"}
    stray_at = responses[10]
    junk = cc_records[responses[11]][300:2300].lstrip(b"\r\n")
    # After each bad spot, a real article that the filters keep: the record that a broken reader loses.
    articles = iter(readable_articles(shared_data, limit=4))
    members: list[bytes] = []
    lies: dict[int, str] = {}
    after: list[str] = []
    for i, member in enumerate(cc_members):
        members.append(member)
        if i in lie_at or i == stray_at:
            if i in lie_at:
                lies[len(members) - 1] = lie_at[i]
            title, paragraphs = next(articles)
            after.append(f"https://articles.example/{len(members)}")
            members.append(warc_record(after[-1], article_html(title, paragraphs)))
            if i == stray_at:
                stray_after = len(members) - 2
    records = [gzip.decompress(m) for m in members]
    lied_urls = {_url(records[i]) for i in lies}

    def build(folder: Path, hostile: bool) -> dict[str, list[tuple[int, str, str]]]:
        """Write gz.warc.gz and plain.warc; return each file's expected (offset, reason, url) quarantine rows."""
        folder.mkdir()
        parts: dict[str, list[bytes]] = {"gz.warc.gz": [], "plain.warc": []}
        expected: dict[str, list[tuple[int, str, str]]] = {name: [] for name in parts}
        for i, (member, record) in enumerate(zip(members, records, strict=True)):
            if hostile and i in lies:
                length = int(warc_header(record)["content-length"])
                record = set_content_length(record, LIES[lies[i]](length))
                member = gzip.compress(record, mtime=0)
            for name, unit in (("gz.warc.gz", member), ("plain.warc", record)):
                at = sum(len(p) for p in parts[name])
                if hostile and i in lies:
                    expected[name].append((at, "content_length_mismatch", _url(record)))
                parts[name].append(unit)
                if hostile and i == stray_after:
                    expected[name].append((at + len(unit), "stray_bytes", ""))
                    parts[name].append(junk)
        for name, data in parts.items():
            (folder / name).write_bytes(b"".join(data))
        return expected

    def ingest(name: str, hostile: bool) -> tuple[Path, dict[str, list[tuple[int, str, str]]], str]:
        expected = build(tmp_path / name, hostile)
        store = tmp_path / f"store-{name}"
        code = main(["--store", str(store), "ingest", str(tmp_path / name), "--workers", "0", "--no-dedup"])
        assert code == 0
        return store, expected, capsys.readouterr().out

    clean_store, _, _ = ingest("clean", hostile=False)
    store, expected, out = ingest("hostile", hostile=True)

    clean_docs = _rows(clean_store, "documents", "clean")
    docs = _rows(store, "documents", "hostile")
    quarantine = _rows(store, "quarantine", "hostile")
    for name in ("gz.warc.gz", "plain.warc"):
        want = {d["url"]: d["text"] for d in clean_docs if str(d["warc_file"]).endswith(name)}
        got = {d["url"]: d["text"] for d in docs if str(d["warc_file"]).endswith(name)}
        assert got == {url: text for url, text in want.items() if url not in lied_urls}
        # The record right after each bad spot is kept, with exactly its own text (by the equality above).
        assert sum(url in want for url in after) >= 3 and set(after) & set(want) <= set(got)
        rows = sorted(
            (int(q["offset"]), str(q["reason"]), str(q["url"]))  # type: ignore[call-overload]
            for q in quarantine
            if str(q["file"]).endswith(name)
        )
        assert rows == expected[name]
    stats = [json.loads(f.read_text()) for f in (store / "stats" / "ingest" / "hostile").glob("*.json")]
    shards = [s for s in stats if "shard" in s]
    assert sorted(s["counts"].get("skipped_bytes", 0) for s in shards) == [len(junk), len(junk)]
    assert "quarantined records" in out and "skipped bytes" in out
