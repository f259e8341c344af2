"""Cloud Storage objects kept as plain files: ``DATA_DIR/gcs/BUCKET/OBJECT``.

A bucket is a directory, an object a file; "folders" are directories. The generation of an object is
its file's modification time in microseconds, so a file written by a job (not uploaded) is an object
like any other. Content types are guessed from the name (uploads do not keep theirs).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import shutil
import struct
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import google_crc32c


class StorageError(Exception):
    """A JSON API error: HTTP status, reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def not_found(bucket: str, name: str | None = None) -> StorageError:
    """Return the 404 of a missing bucket or object."""
    if name is None:
        return StorageError(404, "notFound", "The specified bucket does not exist.")
    return StorageError(404, "notFound", f"No such object: {bucket}/{name}")


def hashes(data: bytes) -> tuple[str, str]:
    """Return the base64 MD5 and CRC32C of ``data``, as Cloud Storage reports them."""
    md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    crc = base64.b64encode(struct.pack(">I", google_crc32c.value(data))).decode()
    return md5, crc


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ObjectStore:
    """Buckets and objects under one directory.

    :param root: the directory holding one subdirectory per bucket.
    :param uploads: a directory for partial uploads, on the same file system as ``root``.
    """

    def __init__(self, root: Path, uploads: Path) -> None:
        self.root = root
        self.uploads = uploads
        self._hash_cache: dict[Path, tuple[tuple[int, int], tuple[str, str]]] = {}
        self._lock = threading.Lock()

    # -- paths --------------------------------------------------------------------------------------

    def bucket_dir(self, bucket: str) -> Path:
        """Return a bucket's directory (which may not exist)."""
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise StorageError(400, "invalid", f"Invalid bucket name: {bucket!r}")
        return self.root / bucket

    def object_path(self, bucket: str, name: str) -> Path:
        """Return an object's file (which may not exist)."""
        parts = name.split("/")
        if not name or name.startswith("/") or any(part in (".", "..") for part in parts):
            raise StorageError(400, "invalid", f"Invalid object name: {name!r}")
        return self.bucket_dir(bucket) / name

    def existing(self, bucket: str, name: str) -> Path:
        """Return an existing object's file, or raise 404."""
        if not self.bucket_dir(bucket).is_dir():
            raise not_found(bucket)
        path = self.object_path(bucket, name)
        if not path.is_file():
            raise not_found(bucket, name)
        return path

    # -- buckets ------------------------------------------------------------------------------------

    def bucket_resource(self, bucket: str) -> dict[str, Any]:
        """Return a bucket's JSON resource, or raise 404."""
        path = self.bucket_dir(bucket)
        if not path.is_dir():
            raise not_found(bucket)
        created = _rfc3339(path.stat().st_mtime)
        return {
            "kind": "storage#bucket",
            "id": bucket,
            "name": bucket,
            "location": "US",
            "storageClass": "STANDARD",
            "timeCreated": created,
            "updated": created,
            "metageneration": "1",
            "projectNumber": "0",
            "etag": "CAE=",
        }

    def create_bucket(self, bucket: str) -> dict[str, Any]:
        """Create a bucket; 409 if it exists."""
        path = self.bucket_dir(bucket)
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            raise StorageError(
                409,
                "conflict",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ) from None
        return self.bucket_resource(bucket)

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket; 409 if it holds objects."""
        path = self.bucket_dir(bucket)
        if not path.is_dir():
            raise not_found(bucket)
        if any(self._walk(path)):
            raise StorageError(409, "conflict", "The bucket you tried to delete is not empty.")
        shutil.rmtree(path)

    def buckets(self) -> list[str]:
        """Return every bucket's name."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    # -- objects ------------------------------------------------------------------------------------

    def _hashes(self, path: Path, stat: os.stat_result) -> tuple[str, str]:
        signature = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._hash_cache.get(path)
        if cached and cached[0] == signature:
            return cached[1]
        result = hashes(path.read_bytes())
        with self._lock:
            self._hash_cache[path] = (signature, result)
        return result

    def resource(self, bucket: str, name: str, *, base_url: str) -> dict[str, Any]:
        """Return an object's JSON resource (``size`` and ``generation`` are strings, as in the API)."""
        path = self.existing(bucket, name)
        stat = path.stat()
        md5, crc = self._hashes(path, stat)
        generation = str(stat.st_mtime_ns // 1000)
        quoted = f"b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        return {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{generation}",
            "selfLink": f"{base_url}/storage/v1/{quoted}",
            "mediaLink": f"{base_url}/download/storage/v1/{quoted}?generation={generation}&alt=media",
            "name": name,
            "bucket": bucket,
            "generation": generation,
            "metageneration": "1",
            "contentType": mimetypes.guess_type(name)[0] or "application/octet-stream",
            "storageClass": "STANDARD",
            "size": str(stat.st_size),
            "md5Hash": md5,
            "crc32c": crc,
            "etag": base64.b64encode(generation.encode()).decode(),
            "timeCreated": _rfc3339(stat.st_mtime),
            "updated": _rfc3339(stat.st_mtime),
            "timeStorageClassUpdated": _rfc3339(stat.st_mtime),
        }

    def generation(self, bucket: str, name: str) -> int | None:
        """Return an object's generation, or None when it does not exist."""
        try:
            return self.object_path(bucket, name).stat().st_mtime_ns // 1000
        except (FileNotFoundError, NotADirectoryError):
            return None

    def check_preconditions(self, bucket: str, name: str, query: dict[str, str]) -> None:
        """Apply ``ifGenerationMatch`` / ``ifGenerationNotMatch``; 412 when they fail."""
        current = self.generation(bucket, name) or 0
        match, not_match = query.get("ifGenerationMatch"), query.get("ifGenerationNotMatch")
        if (match is not None and int(match) != current) or (not_match is not None and int(not_match) == current):
            raise StorageError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")

    def new_upload_file(self) -> Path:
        """Return a fresh temporary file for an upload in progress."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        return self.uploads / uuid.uuid4().hex

    def commit(self, bucket: str, name: str, source: Path) -> None:
        """Move a finished upload into place (buckets and folders are created as needed)."""
        path = self.object_path(bucket, name)
        if path.is_dir():
            raise StorageError(409, "conflict", f"Object {bucket}/{name} would replace a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(409, "conflict", f"An object is in the way of {bucket}/{name}") from None
        os.replace(source, path)

    def write(self, bucket: str, name: str, data: bytes) -> None:
        """Store ``data`` as an object, atomically."""
        self.object_path(bucket, name)  # check the name before writing anything
        self.uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.uploads, delete=False) as file:
            file.write(data)
        try:
            self.commit(bucket, name, Path(file.name))
        finally:
            Path(file.name).unlink(missing_ok=True)

    def delete(self, bucket: str, name: str) -> None:
        """Delete an object; 404 if it does not exist."""
        self.existing(bucket, name).unlink()

    # -- listing ------------------------------------------------------------------------------------

    @staticmethod
    def _walk(top: Path) -> Iterator[Path]:
        for directory, _, files in os.walk(top):
            for file in files:
                yield Path(directory, file)

    def names(self, bucket: str, prefix: str) -> list[str]:
        """Return the sorted names of a bucket's objects that start with ``prefix``."""
        root = self.bucket_dir(bucket)
        if not root.is_dir():
            raise not_found(bucket)
        start = root / prefix.rsplit("/", 1)[0] if "/" in prefix else root
        found = [path.relative_to(root).as_posix() for path in self._walk(start)] if start.is_dir() else []
        return sorted(name for name in found if name.startswith(prefix))

    def list(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        page_token: str = "",
        max_results: int = 0,
        start_offset: str = "",
        end_offset: str = "",
    ) -> tuple[list[str], list[str], str]:
        """Return (object names, prefixes, next page token) of one page of a listing."""
        items: list[str] = []
        prefixes: set[str] = set()
        for name in self.names(bucket, prefix):
            if (start_offset and name < start_offset) or (end_offset and name >= end_offset):
                continue
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest[: rest.index(delimiter) + len(delimiter)])
            else:
                items.append(name)
        if page_token:
            items = [name for name in items if name > page_token]
            prefixes = {p for p in prefixes if p > page_token}
        next_token = ""
        if max_results and len(items) > max_results:
            items = items[:max_results]
            next_token = items[-1]
            prefixes = {p for p in prefixes if p <= next_token}
        return items, sorted(prefixes), next_token
