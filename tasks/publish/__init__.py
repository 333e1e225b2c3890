"""Publication: a mixture becomes an immutable, numbered version on S3 (or a local directory) with a manifest;
``latest`` moves last. :func:`publish_mixture` writes, :func:`open_mixture` reads."""

from tasks.publish.config import PublishConfig, PublishResult
from tasks.publish.manifest import Manifest
from tasks.publish.objectstore import ConditionalWritesUnsupported, ObjectStoreError, open_store
from tasks.publish.publisher import publish_mixture
from tasks.publish.reader import (
    ChecksumMismatch,
    PublishedMixture,
    VersionNotFound,
    list_versions,
    open_mixture,
)
from tasks.publish.versions import advance_latest, collect_garbage, read_latest

__all__ = [
    "ChecksumMismatch",
    "ConditionalWritesUnsupported",
    "Manifest",
    "ObjectStoreError",
    "PublishConfig",
    "PublishResult",
    "PublishedMixture",
    "VersionNotFound",
    "advance_latest",
    "collect_garbage",
    "list_versions",
    "open_mixture",
    "open_store",
    "publish_mixture",
    "read_latest",
]
