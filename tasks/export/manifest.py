"""What an export is (:class:`ExportConfig`) and what it wrote (:class:`ExportManifest`, ``export.json``).

Layout, beside the release and never inside it (a published version is immutable)::

    <target>/<name>/exports/v<N>/<export id>/export.json        written last: the export exists iff it exists
    <target>/<name>/exports/v<N>/<export id>/shards/part-00000.bin   Megatron indexed dataset (tokens)
    <target>/<name>/exports/v<N>/<export id>/shards/part-00000.idx
    <target>/<name>/exports/v<N>/<export id>/_markers/…            per-shard completion markers (resume)

``<export id>`` is ``<tokenizer>-<tokenizer sha256[:8]>-L<seq_len>-s<seed>-n<shards>``: a different tokenizer,
sequence length, seed or shard count is a different export.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.runner import ClusterConfig

FORMAT = "quarry.export/1"
EXPORT_MANIFEST = "export.json"
SHARDS_DIR = "shards"
DEFAULT_EOS_TOKEN = "<|endoftext|>"
# The SmolLM2 tokenizer that infra/vllm/setup.sh converts (the rater's model); any tokenizer.json works.
DEFAULT_TOKENIZER = str(
    Path(__file__).resolve().parents[2] / ".quarry" / "models" / "smollm2-135m-instruct" / "tokenizer.json"
)


def default_tokenizer() -> str:
    return os.environ.get("QUARRY_EXPORT_TOKENIZER") or DEFAULT_TOKENIZER


@dataclass(frozen=True)
class ExportConfig:
    """Export release ``release`` (``<target>/<name>``, optionally ``/v<N>``) as packed token sequences.

    ``shards``: output shards (default: as many as the release has). Each document copy (repetitions are
    applied) is assigned to an output shard and ordered inside it by a hash of ``(seed, document id, copy)``,
    then the shard's documents are concatenated, each followed by ``eos_token``, and cut into sequences of
    ``seq_len`` tokens (the shard's last, shorter sequence is kept in the file and counted as ``tail_tokens``).
    """

    release: str
    version: str | int = "latest"
    tokenizer: str = ""
    seq_len: int = 2048
    seed: int = 0
    shards: int | None = None
    eos_token: str = DEFAULT_EOS_TOKEN
    out: str | None = None  # default: beside the release (see the module docstring)
    batch_documents: int = 512  # documents per tokenizer call
    # where the shards run: in this process by default; a LocalCluster or a scheduler fans them out
    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig(n_workers=0))

    def __post_init__(self) -> None:
        if self.seq_len < 2:
            raise ValueError("seq_len must be >= 2")
        if self.shards is not None and self.shards < 1:
            raise ValueError("shards must be >= 1")
        if not 0 <= self.seed < 2**63:
            raise ValueError("seed must be within [0, 2**63)")
        if self.batch_documents < 1:
            raise ValueError("batch_documents must be >= 1")

    @property
    def tokenizer_path(self) -> str:
        return self.tokenizer or default_tokenizer()


def tokenizer_tag(path: str) -> str:
    """A short, path-safe name for a tokenizer file: its folder's name (``smollm2-135m-instruct``)."""
    folder = Path(path).resolve().parent.name or "tokenizer"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", folder).strip("-.")[:60] or "tokenizer"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReleaseRef(_Frozen):
    url: str
    name: str
    version: int
    content_digest: str
    manifest_sha256: str


class TokenizerRef(_Frozen):
    file: str  # the file name only (the path is local to the machine that exported)
    sha256: str
    vocab_size: int
    eos_token: str
    eos_id: int


class ExportShard(_Frozen):
    prefix: str  # "shards/part-00000": .bin and .idx beside each other, as Megatron names them
    documents: int = Field(ge=0)  # document copies (repetitions applied)
    tokens: int = Field(ge=0)  # all tokens in the .bin, separators included
    sequences: int = Field(ge=0)  # full sequences of seq_len tokens
    tail_tokens: int = Field(ge=0)  # the last, shorter sequence (0: none)
    bin_size: int = Field(ge=0)
    bin_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    idx_size: int = Field(ge=0)
    idx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DomainTokens(_Frozen):
    documents: int = Field(ge=0)
    tokens: int = Field(ge=0)  # this tokenizer's tokens, separators included, repetitions applied
    proportion: float = Field(ge=0.0, le=1.0)


class ExportTotals(_Frozen):
    documents: int = Field(ge=0)
    tokens: int = Field(ge=0)
    sequences: int = Field(ge=0)
    tail_tokens: int = Field(ge=0)
    shards: int = Field(ge=0)
    bytes: int = Field(ge=0)


class ExportManifest(_Frozen):
    format: str = FORMAT
    export_id: str
    created_at: str
    release: ReleaseRef
    tokenizer: TokenizerRef
    seq_len: int
    seed: int
    dtype: str  # numpy dtype of the .bin ("uint16" or "int32")
    layout: str = "megatron-indexed-v1"
    shuffle: str = "blake2b-64(seed, document id, copy): shard = key mod shards, order = key"
    totals: ExportTotals
    domains: dict[str, DomainTokens]
    shards: list[ExportShard]

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ExportManifest:
        return cls.model_validate_json(data)
