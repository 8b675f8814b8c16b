"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2, …), through boto3.

boto3 rather than aioboto3: it is AWS's own client, released in lockstep with botocore, while
aioboto3 wraps aiobotocore, which pins botocore to narrow ranges and trails it. The store's
callers run it in a thread anyway (see engine/blobs), so an async client would buy nothing.
Needs the `s3` extra: `pip install 'callplane[s3]'`.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from callplane.engine.blobs import BlobConfig, check_key

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


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

    def put(self, key: str, data: bytes, content_type: str) -> None:
        # One PUT: S3 stores the object whole or not at all, so nothing partial is ever visible.
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

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
