"""CLI: ``quarry publish`` (write a mixture version) and ``quarry consume`` (inspect / verify one)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tasks.progress import print_summary
from tasks.publish.versions import ABANDONED_AFTER_S

TARGET_ENV = "QUARRY_PUBLISH_URL"


def register(sub: Any) -> None:
    p = sub.add_parser("publish", help="publish a mixture as an immutable version (S3 or a local directory)")
    p.add_argument("name", help="mixture name (mixtures/<name>/ in the store)")
    p.add_argument(
        "--to",
        dest="target",
        default=os.environ.get(TARGET_ENV),
        help=f"s3://bucket/prefix or a local directory (default: ${TARGET_ENV})",
    )
    p.add_argument("--dry-run", action="store_true", help="build and describe the version, write nothing")
    p.add_argument("--no-report", action="store_true", help="do not render report.html into the version")
    p.add_argument("--max-rows-per-shard", type=int, default=100_000)
    p.add_argument("--max-missing-fraction", type=float, default=0.0)
    p.add_argument("--sweep-id", help="sweep that chose the parameters (default: from the mix summary)")
    p.add_argument("--workers", type=int, default=0, help="Dask LocalCluster workers (0: in this process)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.add_argument(
        "--annealing",
        metavar="MIXTURE",
        help="an annealing mixture (tasks.methods.anneal) to release beside NAME in the same version",
    )
    p.add_argument(
        "--annealing-fraction",
        type=float,
        help="share of the training tokens (the last ones) drawn from the annealing mixture "
        "(default: what its summary records)",
    )
    p.add_argument(
        "--no-promote",
        action="store_true",
        help="write the version but leave 'latest' where it is (promote later by publishing again)",
    )
    p.add_argument(
        "--gc",
        action="store_true",
        help="publish nothing: remove the abandoned incomplete versions of NAME at --to (never a complete "
        "one; with --dry-run, only list them)",
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=ABANDONED_AFTER_S / 3600,
        metavar="HOURS",
        help="with --gc: an incomplete version is abandoned after this long without a heartbeat "
        "(default: %(default)g)",
    )
    p.set_defaults(func=_publish)

    c = sub.add_parser("consume", help="resolve, summarise and verify a published mixture version")
    c.add_argument("url", help="<target>/<name>, e.g. s3://bucket/mixtures/web-en (or .../v3)")
    c.add_argument("--version", default="latest", help="'latest' (default) or v<N>")
    c.add_argument("--verify", action="store_true", help="download every shard and check its sha256")
    c.add_argument(
        "--list",
        action="store_true",
        help="list the versions: complete, pending (being published) or abandoned",
    )
    c.add_argument("--json", action="store_true", help="print the manifest as JSON")
    c.add_argument(
        "--head", type=int, default=0, help="print the first N documents (id, domain, repetitions)"
    )
    c.set_defaults(func=_consume)


def _publish(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from tasks.publish.objectstore import ObjectStoreError

    try:
        return _collect_garbage(args) if args.gc else _publish_version(args)
    except (ObjectStoreError, BotoCoreError, ClientError) as exc:  # S3 said no: say what, without a traceback
        print(f"quarry publish: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _collect_garbage(args: argparse.Namespace) -> int:
    from tasks.publish.objectstore import open_store
    from tasks.publish.versions import collect_garbage
    from tasks.storage import validate_name

    if not args.target:
        raise ValueError(f"give --to s3://bucket/prefix (or a directory), or set ${TARGET_ENV}")
    if not args.older_than >= 0:
        raise ValueError("--older-than must be >= 0 hours")
    name = validate_name(args.name, "published name")
    result = collect_garbage(open_store(args.target), name, args.older_than * 3600, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print_summary(
        f"publish --gc {name}",
        {
            f"{verb} (abandoned)": ", ".join(result.removed) or "-",
            "kept (pending)": ", ".join(result.kept_pending) or "-",
            "complete (never touched)": ", ".join(result.complete) or "-",
            "empty prefixes dropped": ", ".join(result.empty_prefixes) or "-",
        },
    )
    return 0


def _publish_version(args: argparse.Namespace) -> int:
    from tasks.publish import PublishConfig, publish_mixture
    from tasks.runner import ClusterConfig

    if not args.target:
        raise ValueError(f"give --to s3://bucket/prefix (or a directory), or set ${TARGET_ENV}")
    result = publish_mixture(
        PublishConfig(
            store=args.store,
            name=args.name,
            target=args.target,
            dry_run=args.dry_run,
            report=not args.no_report,
            max_rows_per_shard=args.max_rows_per_shard,
            max_missing_fraction=args.max_missing_fraction,
            sweep_id=args.sweep_id,
            promote=not args.no_promote,
            annealing=args.annealing,
            annealing_fraction=args.annealing_fraction,
            cluster=ClusterConfig(address=args.scheduler, n_workers=None if args.scheduler else args.workers),
        )
    )
    summary = result.summary()
    if result.manifest.annealing is not None:
        a = result.manifest.annealing
        summary["annealing"] = f"{a.mixture}: last {a.fraction:g} of tokens, {a.totals.shards} shard(s)"
    print_summary(f"publish {args.name}", summary)
    print(result.url)
    return 0


def _consume(args: argparse.Namespace) -> int:
    """Exit 2 with one line for what the caller got wrong (a file, a URL with nothing published, a bad
    version); exit 1 with one line for what the store got wrong (a checksum, an S3 failure)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from tasks.publish.objectstore import ObjectStoreError

    try:
        return _consume_version(args)
    except (FileNotFoundError, NotADirectoryError, PermissionError, ValueError) as exc:
        print(f"quarry consume: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        print(f"quarry consume: error: {_one_line(exc)}", file=sys.stderr)
        return 2 if code in ("NoSuchBucket", "404", "NoSuchKey") else 1
    except (ObjectStoreError, BotoCoreError) as exc:  # a checksum mismatch, an unreachable store
        print(f"quarry consume: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _consume_version(args: argparse.Namespace) -> int:
    from tasks.publish.reader import list_versions, open_mixture

    if args.list:
        versions = list_versions(args.url)
        if not versions:
            raise FileNotFoundError(f"no published versions at {args.url}")
        for info in versions:
            print(f"{info.label}\t{info.describe()}")
        return 0
    mix = open_mixture(args.url, args.version)
    m = mix.manifest
    if args.json:
        sys.stdout.write(m.to_bytes().decode())
    else:
        rows: dict[str, Any] = {
            "url": mix.url,
            "created": m.created_at,
            "shards": m.totals.shards,
            "unique documents": m.totals.unique_documents,
            "documents (with repetitions)": m.totals.documents,
            "tokens (with repetitions)": m.totals.tokens,
            "snapshots": ", ".join(m.lineage.snapshots),
            "sweep": m.lineage.sweep_id or "-",
            "fastText models": ", ".join(m.lineage.fasttext_model_versions) or "-",
        }
        rows.update({f"domain {k}": f"{v:.2%}" for k, v in m.proportions("domain").items()})
        rows.update({f"source {k}": f"{v:.2%}" for k, v in m.proportions("source").items()})
        print_summary(f"{m.name} {m.label}", rows)
    if args.head > 0:
        for i, doc in enumerate(mix.iter_documents(columns=("id", "domain", "repetitions"))):
            if i >= args.head:
                break
            print(json.dumps(doc, sort_keys=True))
    if args.verify:
        report = mix.verify()
        for problem in report.problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        print(f"verified {report.checked} file(s), {report.bytes:,} bytes: {'ok' if report.ok else 'FAILED'}")
        return 0 if report.ok else 1
    return 0
