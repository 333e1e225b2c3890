"""Publication: a mixture becomes an immutable, numbered version on S3 (or a local directory) with a manifest;
``latest`` moves last. :func:`publish_mixture` writes, :func:`open_mixture` reads."""

from tasks.publish.manifest import Manifest
from tasks.publish.objectstore import ConditionalWritesUnsupported, ObjectStoreError, open_store
from tasks.publish.publisher import PublishConfig, PublishResult, advance_latest, publish_mixture, read_latest
from tasks.publish.reader import (
    ChecksumMismatch,
    PublishedMixture,
    VersionNotFound,
    list_versions,
    open_mixture,
)

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
    "list_versions",
    "open_mixture",
    "open_store",
    "publish_mixture",
    "read_latest",
]
