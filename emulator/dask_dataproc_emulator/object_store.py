"""Cloud Storage objects kept as plain files: ``DATA_DIR/gcs/BUCKET/OBJECT``.

A bucket is a directory, an object a file; "folders" are directories. The generation of an object is
its file's modification time in microseconds (the store stamps each file it writes with a fresh one),
so a file written by a job (not uploaded) is an object like any other. Content types are guessed from
the name, unless a copy, compose or PATCH set one (:mod:`.object_metadata`; uploads do not keep theirs).
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
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import google_crc32c

from dask_dataproc_emulator.object_listing import GlobError, ListPage, ListQuery, list_page
from dask_dataproc_emulator.object_metadata import MetadataFiles, patched, settable

#: The most source objects one compose request may name (the JSON API's limit).
MAX_COMPOSE_SOURCES = 32


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


def int_param(query: dict[str, str], key: str) -> int | None:
    """Return an integer query parameter (None when absent); 400 naming it when it is not an integer."""
    value = query.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise StorageError(400, "invalid", f"Invalid value for {key}: {value!r} is not an integer") from None


def condition_not_met() -> StorageError:
    """The JSON API's 412 for an ``if...Match`` precondition that does not hold."""
    return StorageError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ObjectStore:
    """Buckets and objects under one directory.

    :param root: the directory holding one subdirectory per bucket.
    :param uploads: a directory for partial uploads, on the same file system as ``root``.
    :param metadata: the directory of kept object metadata; default ``.gcs-metadata`` beside ``uploads``.
    """

    def __init__(self, root: Path, uploads: Path, metadata: Path | None = None) -> None:
        self.root = root
        self.uploads = uploads
        self.metadata = MetadataFiles(metadata or uploads.with_name(".gcs-metadata"))
        self._hash_cache: dict[Path, tuple[tuple[int, int], tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self._last_generation = 0

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
        kept = self.metadata.read(bucket, name, stat.st_mtime_ns // 1000)
        generation = str(stat.st_mtime_ns // 1000)
        quoted = f"b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        resource: dict[str, Any] = {
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
        resource.update(kept)
        resource["metageneration"] = str(resource["metageneration"])
        if "componentCount" in kept:  # a composite object has a CRC32C but no MD5
            del resource["md5Hash"]
        return resource

    def generation(self, bucket: str, name: str) -> int | None:
        """Return an object's generation, or None when it does not exist."""
        try:
            return self.object_path(bucket, name).stat().st_mtime_ns // 1000
        except (FileNotFoundError, NotADirectoryError):
            return None

    def metageneration(self, bucket: str, name: str) -> int | None:
        """Return an object's metageneration, or None when it does not exist."""
        generation = self.generation(bucket, name)
        if generation is None:
            return None
        return int(self.metadata.read(bucket, name, generation).get("metageneration", 1))

    def check_preconditions(self, bucket: str, name: str, query: dict[str, str], *, source: bool = False) -> None:
        """Apply ``if(Meta)Generation(Not)Match`` (``ifSource...`` with ``source``); 400 for a non-integer, 412 when one fails."""
        kind = "Source" if source else ""
        wanted = {
            (level, test): int_param(query, f"if{kind}{level}{test}")
            for level in ("Generation", "Metageneration")
            for test in ("Match", "NotMatch")
        }
        if not any(value is not None for value in wanted.values()):
            return
        current = {
            "Generation": self.generation(bucket, name) or 0,
            "Metageneration": self.metageneration(bucket, name),
        }
        for (level, test), value in wanted.items():
            if value is not None and (value == current[level]) != (test == "Match"):
                raise condition_not_met()

    def new_upload_file(self) -> Path:
        """Return a fresh temporary file for an upload in progress."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        return self.uploads / uuid.uuid4().hex

    def _next_generation(self) -> int:
        """Return a generation (microseconds since the epoch) later than any this store gave before."""
        with self._lock:
            self._last_generation = max(time.time_ns() // 1000, self._last_generation + 1)
            return self._last_generation

    def commit(self, bucket: str, name: str, source: Path) -> int:
        """Move a finished upload into place (buckets and folders are created as needed); return its generation.

        The file is stamped with a fresh generation first: file times can repeat within a clock tick,
        and two writes of one object must not share a generation (``ifGenerationMatch`` relies on it).
        """
        path = self.object_path(bucket, name)
        if path.is_dir():
            raise StorageError(409, "conflict", f"Object {bucket}/{name} would replace a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(409, "conflict", f"An object is in the way of {bucket}/{name}") from None
        generation = self._next_generation()
        os.utime(source, ns=(generation * 1000, generation * 1000))
        os.replace(source, path)
        return generation

    def write(self, bucket: str, name: str, data: bytes) -> int:
        """Store ``data`` as an object, atomically; return its generation."""
        return self._write_from(bucket, name, [data])

    def _write_from(self, bucket: str, name: str, pieces: list[bytes | Path]) -> int:
        """Store the concatenation of ``pieces`` (bytes, or files to copy) as an object; return its generation."""
        self.object_path(bucket, name)  # check the name before writing anything
        self.uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.uploads, delete=False) as file:
            for piece in pieces:
                if isinstance(piece, Path):
                    with piece.open("rb") as source:
                        shutil.copyfileobj(source, file, 1024 * 1024)
                else:
                    file.write(piece)
        try:
            return self.commit(bucket, name, Path(file.name))
        finally:
            Path(file.name).unlink(missing_ok=True)

    def delete(self, bucket: str, name: str) -> None:
        """Delete an object; 404 if it does not exist."""
        self.existing(bucket, name).unlink()
        self.metadata.delete(bucket, name)

    def patch(self, bucket: str, name: str, fields: dict[str, Any]) -> None:
        """Change an object's settable fields (a PATCH body) and bump its metageneration."""
        generation = self.existing(bucket, name).stat().st_mtime_ns // 1000
        kept = self.metadata.read(bucket, name, generation)
        changed = patched(kept, fields)
        changed["metageneration"] = int(kept.get("metageneration", 1)) + 1
        self.metadata.write(bucket, name, generation, changed)

    # -- copy and compose ---------------------------------------------------------------------------

    def _source(self, bucket: str, name: str, generation: int | None) -> tuple[Path, int]:
        """Return a source object's file and generation; 404 when it (or that generation) does not exist."""
        path = self.existing(bucket, name)
        current = path.stat().st_mtime_ns // 1000
        if generation is not None and generation != current:  # only the live generation is kept
            raise StorageError(404, "notFound", f"No such object: {bucket}/{name}#{generation}")
        return path, current

    def copy(
        self, source: tuple[str, str], destination: tuple[str, str], *, fields: dict[str, Any], query: dict[str, str]
    ) -> int:
        """Copy an object (``objects.rewrite`` and ``objects.copy``); return the destination's generation.

        :param source: (bucket, name) of the source; 404 when it does not exist.
        :param destination: (bucket, name) of the copy; its bucket is created if missing, as uploads do.
        :param fields: the request's destination resource: its settable fields replace the source's.
        :param query: the request's query: ``sourceGeneration``, ``ifSource...`` and ``if...`` preconditions.
        """
        path, generation = self._source(*source, int_param(query, "sourceGeneration"))
        self.check_preconditions(*source, query, source=True)
        self.check_preconditions(*destination, query)
        kept = self.metadata.read(*source, generation)
        kept.pop("metageneration", None)
        new_generation = self._write_from(*destination, [path])
        self.metadata.write(*destination, new_generation, {**kept, **settable(fields)})
        return new_generation

    def compose(
        self, bucket: str, name: str, sources: list[dict[str, Any]], *, fields: dict[str, Any], query: dict[str, str]
    ) -> int:
        """Concatenate objects of one bucket into ``name`` (``objects.compose``); return its generation.

        :param sources: the request's ``sourceObjects``: ``name``, optional ``generation`` and
            ``objectPreconditions.ifGenerationMatch``.
        :param fields: the request's ``destination`` resource (content type, metadata).
        :param query: the request's query: ``ifGenerationMatch`` and friends for the destination.
        """
        if not sources:
            raise StorageError(400, "required", "Required: sourceObjects (at least one source object)")
        if len(sources) > MAX_COMPOSE_SOURCES:
            raise StorageError(
                400, "invalid", f"sourceObjects names {len(sources)} objects; at most {MAX_COMPOSE_SOURCES} are allowed"
            )
        paths, components = [], 0
        for index, source in enumerate(sources):
            source_name = source.get("name")
            if not isinstance(source_name, str) or not source_name:
                raise StorageError(400, "required", f"Required: sourceObjects[{index}].name")
            wanted = int_param({k: str(v) for k, v in source.items() if v is not None}, "generation")
            path, generation = self._source(bucket, source_name, wanted)
            condition = int_param(
                {k: str(v) for k, v in (source.get("objectPreconditions") or {}).items()}, "ifGenerationMatch"
            )
            if condition is not None and condition != generation:
                raise condition_not_met()
            paths.append(path)
            components += int(self.metadata.read(bucket, source_name, generation).get("componentCount", 1))
        self.check_preconditions(bucket, name, query)
        new_generation = self._write_from(bucket, name, paths)
        self.metadata.write(bucket, name, new_generation, {**settable(fields), "componentCount": components})
        return new_generation

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

    def list(self, bucket: str, query: ListQuery, *, max_results: int = 0, page_token: str = "") -> ListPage:
        """Return one page of a listing (see :mod:`.object_listing`); 400 names a bad ``matchGlob`` or ``pageToken``."""
        names = self.names(bucket, query.prefix)
        try:
            return list_page(bucket, names, query, max_results=max_results, page_token=page_token)
        except GlobError as err:
            raise StorageError(400, "invalid", f"Invalid matchGlob {query.match_glob!r}: {err}") from None
        except ValueError:
            raise StorageError(
                400, "invalid", f"Invalid pageToken {page_token!r}: it does not continue this listing"
            ) from None
