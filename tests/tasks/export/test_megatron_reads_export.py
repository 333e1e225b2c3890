"""The export is read by Megatron-LM's own reader (megatron-core's ``IndexedDataset``), sequence for sequence as
Quarry's loader reads it. Run in a child process: importing megatron.core sets up a lot of global state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from export_helper import LocalRelease

from tasks.export import ExportConfig, export_release
from tasks.export.indexed import IndexedShard

REPO = Path(__file__).resolve().parents[3]
CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
from megatron.core.datasets.indexed_dataset import IndexedDataset
out = {}
for prefix in sys.argv[1:]:
    ds = IndexedDataset(prefix)
    out[prefix] = {"dtype": ds.index.dtype.__name__, "docs": [int(x) for x in ds.document_indices],
                   "sequences": [[int(t) for t in ds[i]] for i in range(len(ds))]}
print("RESULT " + json.dumps(out))
"""


def test_megatron_indexed_dataset_reads_the_export(
    local_release: LocalRelease, tokenizer_file: str, tmp_path: Path
) -> None:
    result = export_release(
        ExportConfig(
            release=local_release.url, tokenizer=tokenizer_file, seq_len=128, out=str(tmp_path / "x")
        )
    )
    prefixes = [str(Path(result.url) / s.prefix) for s in result.manifest.shards]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *prefixes], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for prefix, shard in zip(prefixes, result.manifest.shards, strict=True):
        mine = IndexedShard.open(prefix)
        theirs = seen[prefix]
        assert theirs["dtype"] == result.manifest.dtype == "uint16"
        assert theirs["docs"] == list(range(len(mine) + 1))
        assert len(theirs["sequences"]) == shard.sequences + (1 if shard.tail_tokens else 0)
        for i, seq in enumerate(theirs["sequences"]):
            assert np.array_equal(np.asarray(seq), mine.sequence(i))
            assert len(seq) == 128 or i == len(theirs["sequences"]) - 1
