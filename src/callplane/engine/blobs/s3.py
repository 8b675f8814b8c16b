"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2, …), through boto3.

boto3 rather than aioboto3: it is AWS's own client, released in lockstep with botocore, while
aioboto3 wraps aiobotocore, which pins botocore to narrow ranges and trails it. The store's
callers run it in a thread anyway (see engine/blobs), so an async client would buy nothing.
Needs the `s3` extra: `pip install 'callplane[s3]'`.
"""

from __future__ import annotations

import io
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from callplane.engine.blobs import Blob, BlobConfig, check_key

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
#: A streamed put: one PUT up to 8 MiB, a multipart upload of 8 MiB parts beyond (S3's smallest
#: part is 5 MiB), two parts read ahead — so a long recording holds ~16 MiB of the worker's
#: memory while it uploads, not its whole size (boto3's default reads up to ten parts ahead).
_TRANSFER = TransferConfig(multipart_threshold=8 * 2**20, multipart_chunksize=8 * 2**20, max_concurrency=2)
_TRANSFER.max_in_memory_upload_chunks = 2  # s3transfer's knob; boto3's constructor does not take it


class S3Blobs:
    def __init__(self, config: BlobConfig) -> None:
        if not config.bucket:
            raise ValueError("the s3 recordings store needs CALLPLANE_RECORDINGS_S3_BUCKET")
        self.bucket = config.bucket
        self.prefix = config.prefix.strip("/")
        # A boto3 client is thread-safe (a session is not): one per store, shared by threads.
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: Blob, content_type: str) -> None:
        # One PUT, or a multipart upload completed only once every part is in: either way S3
        # shows the object whole or not at all, and an upload that fails is aborted by boto3.
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        self.client.upload_fileobj(
            stream, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}, Config=_TRANSFER
        )

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
