"""CLI: ``quarry export`` (a release → packed token sequences in Megatron's indexed format, beside it)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tasks.export.manifest import DEFAULT_EOS_TOKEN, ExportConfig, default_tokenizer
from tasks.runner import ClusterConfig, ShardFailures


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="tokenize, pack and shuffle a published release into Megatron .bin/.idx shards beside it",
    )
    p.add_argument("release", help="<target>/<name> of a published release (or <target>/<name>/v<N>)")
    p.add_argument("--version", default="latest", help="'latest' (default), v<N> or N")
    p.add_argument(
        "--tokenizer",
        default="",
        help=f"a Hugging Face tokenizer.json (default: $QUARRY_EXPORT_TOKENIZER or {default_tokenizer()})",
    )
    p.add_argument("--seq-len", type=int, default=2048, help="tokens per packed sequence (default: 2048)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed, recorded in export.json (default: 0)")
    p.add_argument("--shards", type=int, help="output shards (default: as many as the release has)")
    p.add_argument("--eos-token", default=DEFAULT_EOS_TOKEN, help="document separator (default: %(default)s)")
    p.add_argument("--out", help="where to write (default: <target>/<name>/exports/v<N>/<export id>)")
    p.add_argument("--workers", type=int, default=0, help="Dask LocalCluster workers (0: in this process)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.add_argument("--json", action="store_true", help="print export.json")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from tasks.export.exporter import export_release
    from tasks.publish.objectstore import ObjectStoreError

    cfg = ExportConfig(
        release=args.release,
        version=args.version,
        tokenizer=args.tokenizer,
        seq_len=args.seq_len,
        seed=args.seed,
        shards=args.shards,
        eos_token=args.eos_token,
        out=args.out,
        cluster=ClusterConfig(address=args.scheduler, n_workers=args.workers),
    )
    try:
        result = export_release(cfg)
    except (ShardFailures, ObjectStoreError) as exc:  # a shard failed (e.g. a checksum): one message, exit 1
        print(f"quarry export: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.manifest.model_dump(mode="json"), indent=2, sort_keys=True))
        return 0
    m = result.manifest
    state = "already exported" if result.already_exported else f"{result.shards_done} shard steps run"
    print(
        f"{result.url}: {m.totals.tokens:,} tokens, {m.totals.sequences:,} sequences of {m.seq_len}, "
        f"{m.totals.shards} shards ({state}); release {m.release.name} v{m.release.version}, seed {m.seed}"
    )
    return 0
