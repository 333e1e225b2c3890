"""Export: a published release → tokenized, packed, shuffled sequences (Megatron indexed ``.bin``/``.idx``)
beside it, and a resumable, rank- and worker-aware PyTorch reader of them."""

from tasks.export.exporter import ExportResult, export_release, load_tokenizer
from tasks.export.manifest import EXPORT_MANIFEST, ExportConfig, ExportManifest

__all__ = [
    "EXPORT_MANIFEST",
    "ExportConfig",
    "ExportManifest",
    "ExportResult",
    "export_release",
    "load_tokenizer",
]
