"""``quarry export``: a release → packed, shuffled token sequences in Megatron's indexed format.

Two passes, each resumable per shard through completion markers (``tasks.storage.CompletionMarkers``):

* **map**, per release shard: download it (checked against the release manifest's sha256 by the reader),
  tokenize every document once, apply its repetitions (copy ``k`` of document ``id`` gets the key
  ``blake2b-64(seed, id, k)``) and write one intermediate Parquet per output shard (``key mod shards``).
* **reduce**, per output shard: gather its pieces from every map output, order them by key (a deterministic
  shuffle that does not depend on which worker ran what), join the documents with the EOS token, cut them into
  ``seq_len`` sequences and write ``part-<b>.bin`` / ``.idx`` atomically.

``export.json`` is written last; then the intermediates are removed. Every output depends only on the release,
the tokenizer file, ``seq_len``, ``seed`` and ``shards``, so an export killed at any point and run again
produces byte-identical files. The release itself is only read.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from tasks.export.indexed import encode_index, token_dtype
from tasks.export.manifest import (
    EXPORT_MANIFEST,
    FORMAT,
    SHARDS_DIR,
    DomainTokens,
    ExportConfig,
    ExportManifest,
    ExportShard,
    ExportTotals,
    ReleaseRef,
    TokenizerRef,
    tokenizer_tag,
)
from tasks.publish.objectstore import sha256_hex
from tasks.publish.reader import PublishedMixture, open_mixture
from tasks.runner import run_shards
from tasks.storage import (
    CompletionMarkers,
    exists,
    join,
    read_bytes,
    read_json,
    remove,
    remove_stale_temps,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)

log = logging.getLogger(__name__)
WORK_DIR = "_work"
MARKERS_DIR = "_markers"


@dataclass(frozen=True)
class ExportResult:
    url: str
    manifest: ExportManifest
    already_exported: bool
    shards_done: int  # shards (map + reduce) this run processed; 0 when everything was already done


def load_tokenizer(path: str) -> tuple[Tokenizer, str]:
    """A Hugging Face ``tokenizers`` tokenizer from a local ``tokenizer.json`` and the file's sha256."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"tokenizer file {path} not found (the SmolLM2 tokenizer is converted by infra/vllm/setup.sh; "
            "pass --tokenizer PATH or set $QUARRY_EXPORT_TOKENIZER)"
        ) from None
    return Tokenizer.from_str(raw.decode()), sha256_hex(raw)


def export_id(cfg: ExportConfig, tokenizer_sha: str, shards: int) -> str:
    return f"{tokenizer_tag(cfg.tokenizer_path)}-{tokenizer_sha[:8]}-L{cfg.seq_len}-s{cfg.seed}-n{shards}"


def default_export_url(mix: PublishedMixture, ident: str) -> str:
    """``<target>/<name>/exports/v<N>/<id>``: beside the release, outside its immutable version folder."""
    return mix.store.url_for(f"{mix.name}/exports/{mix.manifest.label}/{ident}")


def copy_keys(seed: int, ids: list[str], repetitions: list[int]) -> tuple[npt.NDArray[np.uint64], list[int]]:
    """One 64-bit key per document copy, and the row each copy comes from."""
    keys: list[int] = []
    rows: list[int] = []
    prefix = f"{seed}\x00".encode()
    for row, (doc_id, reps) in enumerate(zip(ids, repetitions, strict=True)):
        base = prefix + doc_id.encode() + b"\x00"
        for k in range(int(reps)):
            digest = hashlib.blake2b(base + str(k).encode(), digest_size=8).digest()
            keys.append(int.from_bytes(digest, "little"))
            rows.append(row)
    return np.asarray(keys, dtype=np.uint64), rows


def _tokenize(tok: Tokenizer, texts: list[str], batch: int) -> list[list[int]]:
    out: list[list[int]] = []
    for start in range(0, len(texts), batch):
        out.extend(
            e.ids for e in tok.encode_batch_fast(texts[start : start + batch], add_special_tokens=False)
        )
    return out


def _map_shard(
    mix: PublishedMixture, index: int, tok: Tokenizer, cfg: ExportConfig, n_out: int, work: str, dtype: Any
) -> None:
    entry = mix.manifest.shards[index]
    table = mix.read_shard(entry, ["id", "text", "domain", "repetitions"])
    ids = [str(x) for x in table["id"].to_pylist()]
    reps = [int(x) for x in table["repetitions"].to_pylist()]
    domains = [str(x) for x in table["domain"].to_pylist()]
    token_lists = _tokenize(tok, [str(t or "") for t in table["text"].to_pylist()], cfg.batch_documents)
    keys, rows = copy_keys(cfg.seed, ids, reps)
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = np.fromiter((i for t in token_lists for i in t), dtype=dtype, count=int(lengths.sum()))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    buckets = (keys % np.uint64(n_out)).astype(np.int64)
    row_arr = np.asarray(rows, dtype=np.int64)
    for b in range(n_out):
        pick = row_arr[buckets == b]
        pick_len = lengths[pick]
        offsets = np.concatenate([[0], np.cumsum(pick_len)]).astype(np.int64)
        values = np.concatenate([flat[starts[r] : starts[r + 1]] for r in pick]) if len(pick) else flat[:0]
        piece = pa.table(
            {
                "key": pa.array(keys[buckets == b], pa.uint64()),
                "domain": pa.array([domains[r] for r in pick], pa.string()),
                "tokens": pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values)),
            }
        )
        write_parquet_atomic(join(work, "map", _stem(entry.path), f"b{b:05d}.parquet"), piece)


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".parquet")


def _reduce_bucket(
    mix: PublishedMixture, b: int, cfg: ExportConfig, eos_id: int, work: str, out: str, dtype: Any
) -> dict[str, Any]:
    pieces = []
    for entry in mix.manifest.shards:
        data = read_bytes(join(work, "map", _stem(entry.path), f"b{b:05d}.parquet"))
        pieces.append(pq.read_table(io.BytesIO(data)))
    table = pa.concat_tables(pieces) if pieces else pa.table({"key": [], "domain": [], "tokens": []})
    order = np.argsort(table["key"].to_numpy(), kind="stable")
    table = table.take(pa.array(order, pa.int64()))
    tokens_col = table["tokens"].combine_chunks() if table.num_rows else None
    n = table.num_rows
    lengths = (
        pc.list_value_length(tokens_col).to_numpy(zero_copy_only=False).astype(np.int64)
        if tokens_col is not None
        else np.zeros(0, dtype=np.int64)
    )
    values = tokens_col.flatten().to_numpy() if tokens_col is not None else np.zeros(0, dtype=dtype)
    total = int(lengths.sum()) + n
    stream = np.empty(total, dtype=dtype)
    doc_of_value = np.repeat(np.arange(n, dtype=np.int64), lengths)
    stream[np.arange(len(values), dtype=np.int64) + doc_of_value] = values
    stream[np.cumsum(lengths) + np.arange(n, dtype=np.int64)] = eos_id
    full, tail = divmod(total, cfg.seq_len)
    seq_lengths = np.full(full + (1 if tail else 0), cfg.seq_len, dtype=np.int64)
    if tail:
        seq_lengths[-1] = tail
    bin_bytes = stream.tobytes()
    idx_bytes = encode_index(seq_lengths, np.dtype(dtype))
    prefix = f"{SHARDS_DIR}/part-{b:05d}"
    write_bytes_atomic(join(out, f"{prefix}.bin"), bin_bytes)
    write_bytes_atomic(join(out, f"{prefix}.idx"), idx_bytes)
    per_domain: dict[str, list[int]] = {}
    for domain, length in zip(table["domain"].to_pylist(), lengths.tolist(), strict=True):
        counts = per_domain.setdefault(str(domain), [0, 0])
        counts[0] += 1
        counts[1] += int(length) + 1
    shard = ExportShard(
        prefix=prefix,
        documents=n,
        tokens=total,
        sequences=full,
        tail_tokens=tail,
        bin_size=len(bin_bytes),
        bin_sha256=sha256_hex(bin_bytes),
        idx_size=len(idx_bytes),
        idx_sha256=sha256_hex(idx_bytes),
    )
    return {"shard": shard.model_dump(mode="json"), "domains": per_domain}


@dataclass(frozen=True)
class _ShardTask:
    """One map (release shard ``index``) or reduce (output shard ``index``) step; picklable for Dask."""

    cfg: ExportConfig
    release: str  # the pinned version's URL (<target>/<name>/v<N>)
    index: int
    n_out: int
    out: str
    tokenizer_sha: str
    eos_id: int
    dtype: str


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(path: str, sha: str) -> Tokenizer:
    """One tokenizer per process and file (a worker runs many shards); refuses a file changed since the plan."""
    tok, found = load_tokenizer(path)
    if found != sha:
        raise ValueError(f"{path} changed while the export ran (sha256 {found[:12]}, planned {sha[:12]})")
    return tok


def _run_map(task: _ShardTask) -> None:
    mix = open_mixture(task.release)
    stem = _stem(mix.manifest.shards[task.index].path)
    markers = CompletionMarkers(join(task.out, MARKERS_DIR, "map"))
    if not markers.is_done(stem):
        tok = _cached_tokenizer(task.cfg.tokenizer_path, task.tokenizer_sha)
        work = join(task.out, WORK_DIR)
        _map_shard(mix, task.index, tok, task.cfg, task.n_out, work, np.dtype(task.dtype).type)
        markers.mark_done(stem)


def _run_reduce(task: _ShardTask) -> None:
    name = f"part-{task.index:05d}"
    markers = CompletionMarkers(join(task.out, MARKERS_DIR, "reduce"))
    if not markers.is_done(name):
        mix = open_mixture(task.release)
        work = join(task.out, WORK_DIR)
        dtype = np.dtype(task.dtype).type
        markers.mark_done(name, _reduce_bucket(mix, task.index, task.cfg, task.eos_id, work, task.out, dtype))


def _plan(cfg: ExportConfig, mix: PublishedMixture, tok_sha: str, n_out: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "release": mix.url,
        "content_digest": mix.manifest.content_digest,
        "tokenizer_sha256": tok_sha,
        "eos_token": cfg.eos_token,
        "seq_len": cfg.seq_len,
        "seed": cfg.seed,
        "shards": n_out,
    }


def _plan_of(m: ExportManifest) -> dict[str, Any]:
    """The plan a finished export was made from (what :func:`_plan` gives for the same inputs)."""
    return {
        "format": m.format,
        "release": m.release.url,
        "content_digest": m.release.content_digest,
        "tokenizer_sha256": m.tokenizer.sha256,
        "eos_token": m.tokenizer.eos_token,
        "seq_len": m.seq_len,
        "seed": m.seed,
        "shards": m.totals.shards,
    }


def export_release(cfg: ExportConfig) -> ExportResult:
    """Export (or finish exporting) one release version; see the module docstring."""
    mix = open_mixture(cfg.release, version=cfg.version)
    tok, tok_sha = load_tokenizer(cfg.tokenizer_path)
    eos_id = tok.token_to_id(cfg.eos_token)
    if eos_id is None:
        raise ValueError(f"the tokenizer has no token {cfg.eos_token!r} (choose one with --eos-token)")
    n_out = cfg.shards or max(1, len(mix.manifest.shards))
    ident = export_id(cfg, tok_sha, n_out)
    out = cfg.out or default_export_url(mix, ident)
    plan = _plan(cfg, mix, tok_sha, n_out)
    if exists(join(out, EXPORT_MANIFEST)):
        manifest = ExportManifest.from_bytes(read_bytes(join(out, EXPORT_MANIFEST)))
        if _plan_of(manifest) != plan:
            raise ValueError(f"{out} holds an export of other inputs or settings; choose another --out")
        return ExportResult(out, manifest, already_exported=True, shards_done=0)
    work = join(out, WORK_DIR)
    plan_url = join(work, "plan.json")
    if exists(plan_url) and read_json(plan_url) != plan:
        raise ValueError(f"{out} holds an unfinished export of other inputs; remove it or choose --out")
    write_json_atomic(plan_url, plan)
    remove_stale_temps(out)  # temporary files of a killed earlier run (local folders only)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab).name
    markers = join(out, MARKERS_DIR)
    map_markers = CompletionMarkers(join(markers, "map"))
    reduce_markers = CompletionMarkers(join(markers, "reduce"))
    started = time.monotonic()
    stems = [_stem(e.path) for e in mix.manifest.shards]
    todo_map = [i for i, stem in enumerate(stems) if not map_markers.is_done(stem)]
    run_shards(
        _run_map,
        [_ShardTask(cfg, mix.url, i, n_out, out, tok_sha, eos_id, dtype) for i in todo_map],
        names=[stems[i] for i in todo_map],
        cluster=cfg.cluster,
        description="export-map",
    )
    parts = [f"part-{b:05d}" for b in range(n_out)]
    todo_reduce = [b for b in range(n_out) if not reduce_markers.is_done(parts[b])]
    run_shards(
        _run_reduce,
        [_ShardTask(cfg, mix.url, b, n_out, out, tok_sha, eos_id, dtype) for b in todo_reduce],
        names=[parts[b] for b in todo_reduce],
        cluster=cfg.cluster,
        description="export-reduce",
    )
    infos = [reduce_markers.info(name) for name in parts]
    done_now = len(todo_map) + len(todo_reduce)
    log.info("export %s: %d shard steps in %.1fs", out, done_now, time.monotonic() - started)
    manifest = _manifest(cfg, mix, tok_sha, eos_id, vocab, dtype, ident, infos)
    write_bytes_atomic(join(out, EXPORT_MANIFEST), manifest.to_bytes())
    remove(work, recursive=True)
    return ExportResult(out, manifest, already_exported=False, shards_done=done_now)


def _manifest(
    cfg: ExportConfig,
    mix: PublishedMixture,
    tok_sha: str,
    eos_id: int,
    vocab: int,
    dtype: str,
    ident: str,
    infos: list[dict[str, Any]],
) -> ExportManifest:
    shards = [ExportShard.model_validate(info["shard"]) for info in infos]
    per_domain: dict[str, list[int]] = {}
    for info in infos:
        for domain, (docs, tokens) in info["domains"].items():
            acc = per_domain.setdefault(domain, [0, 0])
            acc[0] += int(docs)
            acc[1] += int(tokens)
    total_tokens = sum(s.tokens for s in shards)
    raw_manifest = mix.store.get(f"{mix.prefix}/manifest.json")
    return ExportManifest(
        export_id=ident,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        release=ReleaseRef(
            url=mix.url,
            name=mix.name,
            version=mix.version,
            content_digest=mix.manifest.content_digest,
            manifest_sha256=sha256_hex(raw_manifest),
        ),
        tokenizer=TokenizerRef(
            file=cfg.tokenizer_path.rsplit("/", 1)[-1],
            sha256=tok_sha,
            vocab_size=vocab,
            eos_token=cfg.eos_token,
            eos_id=eos_id,
        ),
        seq_len=cfg.seq_len,
        seed=cfg.seed,
        dtype=dtype,
        totals=ExportTotals(
            documents=sum(s.documents for s in shards),
            tokens=total_tokens,
            sequences=sum(s.sequences for s in shards),
            tail_tokens=sum(s.tail_tokens for s in shards),
            shards=len(shards),
            bytes=sum(s.bin_size + s.idx_size for s in shards),
        ),
        domains={
            d: DomainTokens(
                documents=v[0], tokens=v[1], proportion=v[1] / total_tokens if total_tokens else 0.0
            )
            for d, v in sorted(per_domain.items())
        },
        shards=shards,
    )
