"""The S3 backend of :mod:`tasks.publish.objectstore` (boto3): ``PutObject`` with ``If-None-Match: *`` (create
only if absent) and ``If-Match: <etag>`` (replace only if unchanged); a 412 means "someone else got there
first". Credentials are never passed in code: boto3 reads them from its usual chain."""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from typing import Any, ClassVar

from tasks.publish.objectstore import (
    ConditionalWritesUnsupported,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    check_key,
)
from tasks.storage import validate_name

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def s3_client() -> Any:
    """A boto3 S3 client for the configured endpoint (``$QUARRY_S3_ENDPOINT_URL`` or ``$AWS_ENDPOINT_URL``);
    credentials come from boto3's own chain, never from code."""
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("QUARRY_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(
        s3={"addressing_style": "path"} if endpoint else {},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, config=config)


def _error_code(exc: Exception) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _is_precondition_failed(exc: Exception) -> bool:
    code, status = _error_code(exc)
    return status == 412 or code == "PreconditionFailed"


def _is_conflict(exc: Exception) -> bool:
    code, status = _error_code(exc)
    return status == 409 or code == "ConditionalRequestConflict"


def _is_not_found(exc: Exception) -> bool:
    code, status = _error_code(exc)
    return status == 404 or code in ("NoSuchKey", "NotFound", "404")


class S3ObjectStore(ObjectStore):
    _checked: ClassVar[set[str]] = set()  # endpoint+bucket pairs already probed (per process)

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        prefix = prefix.strip("/")
        if prefix:
            for segment in prefix.split("/"):
                validate_name(segment, "S3 prefix segment")
        self.bucket = bucket
        self.prefix = prefix
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.client = client if client is not None else s3_client()

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_not_found(exc):
                raise ObjectNotFound(self.url_for(key)) from None
            raise
        return response["Body"].read()  # type: ignore[no-any-return]

    def get_with_etag(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise
        return response["Body"].read(), str(response["ETag"])

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise
        return ObjectInfo(
            size=int(response["ContentLength"]),
            etag=str(response.get("ETag", "")),
            metadata={str(k).lower(): str(v) for k, v in (response.get("Metadata") or {}).items()},
        )

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_file(self, key: str, path: str, sha256: str) -> None:
        from boto3.s3.transfer import TransferConfig

        # A multipart upload is invisible until it completes, so this is atomic too.
        self.client.upload_file(
            path,
            self.bucket,
            self._key(key),
            ExtraArgs={"Metadata": {"sha256": sha256}},
            Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20),
        )

    def _conditional_put(self, key: str, data: bytes, **condition: str) -> bool:
        for attempt in range(6):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
                return True
            except Exception as exc:
                if _is_precondition_failed(exc):
                    return False
                if _is_conflict(exc):  # a concurrent conditional write is in flight: let it settle, retry
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise
        return False

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._conditional_put(key, data, IfNoneMatch="*")

    def compare_and_swap(self, key: str, data: bytes, expected_etag: str | None) -> bool:
        if expected_etag is None:
            return self.put_if_absent(key, data)
        return self._conditional_put(key, data, IfMatch=expected_etag)

    def list_children(self, key_prefix: str) -> list[str]:
        base = self._key(key_prefix) + "/"
        names: set[str] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
            for common in page.get("CommonPrefixes") or []:
                name = str(common["Prefix"])[len(base) :].strip("/")
                if name:
                    names.add(name)
        return sorted(names)

    def list_keys(self, key_prefix: str) -> list[str]:
        base = self._key(key_prefix) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents") or []:
                key = str(obj["Key"])
                if not key.endswith("/"):  # a folder marker is not an object
                    keys.append(key[strip:])
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def remove_empty_prefix(self, key_prefix: str) -> None:
        # Deleting "<prefix>/" removes an empty folder entry on SeaweedFS and MinIO (verified against the
        # SeaweedFS fixture: a folder that still holds objects is kept); on AWS S3 it deletes nothing.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key_prefix) + "/")

    def check_conditional_writes(self, scratch_prefix: str) -> None:
        endpoint = str(getattr(self.client.meta, "endpoint_url", ""))
        token = f"{endpoint}|{self.bucket}"
        if token in S3ObjectStore._checked:
            return
        probe = f"{check_key(scratch_prefix)}/probe-{uuid.uuid4().hex}"
        try:
            if not self.put_if_absent(probe, b"1"):
                raise ConditionalWritesUnsupported(
                    f"fresh probe object {self.url_for(probe)} already existed"
                )
            if self.put_if_absent(probe, b"2"):
                raise ConditionalWritesUnsupported(
                    f"{endpoint or 'S3'} ignored If-None-Match on PutObject: refusing to publish, "
                    "because two publishers could claim the same version there"
                )
            etag = self.head(probe)
            if etag is not None and self.compare_and_swap(probe, b"3", '"not-the-etag"'):
                raise ConditionalWritesUnsupported(f"{endpoint or 'S3'} ignored If-Match on PutObject")
        finally:
            with contextlib.suppress(Exception):
                self.delete(probe)
                self.remove_empty_prefix(check_key(scratch_prefix))  # leave no empty "probes/" folder
        S3ObjectStore._checked.add(token)
