"""A subset of the Cloud Storage JSON API over HTTP, serving :class:`~.object_store.ObjectStore`.

Enough for an unmodified ``google.cloud.storage.Client(client_options={"api_endpoint": URL})`` (or
``STORAGE_EMULATOR_HOST=URL``) to upload (``multipart``, ``media`` and ``resumable`` upload types),
test existence, read and patch metadata, download whole or by ``Range``, list (``prefix``,
``delimiter``, ``startOffset``/``endOffset``, ``matchGlob``, paging), copy (``objects.rewrite``,
``objects.copy``), compose and delete objects; buckets can be read, listed, created and deleted.
Uploading or copying into a bucket that does not exist creates it. Anything else answers 501.

Routes (``{object}`` URL-encoded):
``GET|POST /storage/v1/b``, ``GET|DELETE /storage/v1/b/{bucket}``, ``GET /storage/v1/b/{bucket}/o``,
``GET|DELETE|PATCH /storage/v1/b/{bucket}/o/{object}`` (``alt=media`` downloads),
``POST /storage/v1/b/{bucket}/o/{object}/rewriteTo|copyTo/b/{bucket}/o/{object}``,
``POST /storage/v1/b/{bucket}/o/{object}/compose``,
``GET /download/storage/v1/b/{bucket}/o/{object}``, ``POST|PUT /upload/storage/v1/b/{bucket}/o``.

A rewrite copies the whole object in one call unless the request sets ``maxBytesRewrittenPerCall``
(a multiple of 1 MiB, as the API requires): then each call advances by that many bytes and returns a
``rewriteToken`` bound to the source (and its generation) and the destination, and the call that
reaches the end copies the object.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from dask_dataproc_emulator.object_listing import ListQuery
from dask_dataproc_emulator.object_store import ObjectStore, StorageError, hashes, int_param

log = logging.getLogger(__name__)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")
#: ``maxBytesRewrittenPerCall`` must be a multiple of this (the JSON API's rule).
REWRITE_UNIT = 1024 * 1024
#: The path segments that make an object's POST a copy, and the kind of copy each names.
_COPY_VERBS = {"rewriteTo": "rewrite", "copyTo": "copy"}


def _json_body(body: bytes) -> dict[str, Any]:
    """Return a request's JSON object body ({} when empty); 400 when it is not a JSON object."""
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise StorageError(400, "parseError", "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise StorageError(400, "parseError", "The request body must be a JSON object")
    return value


def _rewrite_token(source: tuple[str, str], destination: tuple[str, str], generation: int, done: int) -> str:
    raw = json.dumps({"source": source, "destination": destination, "generation": generation, "done": done})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _read_rewrite_token(token: str, source: tuple[str, str], destination: tuple[str, str]) -> tuple[int, int]:
    """Return (source generation, bytes done) of a rewrite token; 400 unless it continues this rewrite."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        fits = tuple(data["source"]) == source and tuple(data["destination"]) == destination
        generation, done = int(data["generation"]), int(data["done"])
    except (ValueError, KeyError, TypeError):
        fits = False
    if not fits:
        raise StorageError(
            400,
            "invalid",
            f"Invalid rewriteToken {token!r}: it does not continue a rewrite of this source to this destination",
        )
    return generation, done


class _Upload:
    """A resumable upload in progress."""

    def __init__(self, bucket: str, name: str, path: Path, query: dict[str, str]) -> None:
        self.bucket = bucket
        self.name = name
        self.path = path
        self.query = query
        self.received = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StorageServer

    # -- plumbing -----------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("storage %s - %s", self.address_string(), format % args)

    @property
    def base_url(self) -> str:
        return f"http://{self.headers.get('Host') or self.server.netloc}"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(data)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json; charset=UTF-8"})

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        parts = url.path.split("/")[1:]
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else b""
        try:
            self._route(parts, query, body)
        except StorageError as err:
            error = {
                "code": err.status,
                "message": err.message,
                "errors": [{"message": err.message, "domain": "global", "reason": err.reason}],
            }
            self._json(err.status, {"error": error})
        except Exception as err:  # a bug in the emulator: answer, keep serving
            log.exception("storage %s %s failed", self.command, self.path)
            self._json(500, {"error": {"code": 500, "message": f"Storage emulator error: {err!r}"}})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    # -- routes -------------------------------------------------------------------------------------

    def _route(self, parts: list[str], query: dict[str, str], body: bytes) -> None:
        store = self.server.store
        method = self.command if self.command != "HEAD" else "GET"
        api, rest = parts[:3], parts[3:]
        if api == ["storage", "v1", "b"]:
            if not rest and method == "GET":
                items = [store.bucket_resource(b) for b in store.buckets()]
                return self._json(200, {"kind": "storage#buckets", "items": items})
            if not rest and method == "POST":
                return self._json(200, store.create_bucket(json.loads(body or b"{}").get("name", "")))
            bucket = unquote(rest[0]) if rest else ""
            if len(rest) == 1 and method == "GET":
                return self._json(200, store.bucket_resource(bucket))
            if len(rest) == 1 and method == "DELETE":
                store.delete_bucket(bucket)
                return self._send(204)
            if len(rest) == 2 and rest[1] == "o" and method == "GET":
                return self._list(bucket, query)
            if len(rest) > 2 and rest[1] == "o":
                name = unquote("/".join(rest[2:]))
                if method == "POST":
                    return self._object_post(bucket, rest[2:], query, body)
                if method == "GET" and query.get("alt") == "media":
                    return self._download(bucket, name)
                if method == "PATCH":
                    store.patch(bucket, name, _json_body(body))
                if method in ("GET", "PATCH"):
                    return self._json(200, store.resource(bucket, name, base_url=self.base_url))
                if method == "DELETE":
                    store.delete(bucket, name)
                    return self._send(204)
        if parts[:4] == ["download", "storage", "v1", "b"] and len(parts) > 6 and parts[5] == "o" and method == "GET":
            return self._download(unquote(parts[4]), unquote("/".join(parts[6:])))
        if parts[:4] == ["upload", "storage", "v1", "b"] and parts[5:] == ["o"]:
            return self._upload(unquote(parts[4]), query, body)
        raise StorageError(501, "notImplemented", f"{self.command} {urlsplit(self.path).path} is not emulated")

    def _list(self, bucket: str, query: dict[str, str]) -> None:
        """``objects.list``; ``versions`` is accepted and changes nothing (only live objects are kept)."""
        store = self.server.store
        max_results = int_param(query, "maxResults") or 0
        if max_results < 0:
            raise StorageError(400, "invalid", f"Invalid value for maxResults: {max_results} (must not be negative)")
        listing = store.list(
            bucket,
            ListQuery(
                prefix=query.get("prefix", ""),
                delimiter=query.get("delimiter", ""),
                start_offset=query.get("startOffset", ""),
                end_offset=query.get("endOffset", ""),
                match_glob=query.get("matchGlob", ""),
            ),
            max_results=max_results,
            page_token=query.get("pageToken", ""),
        )
        items = []
        for name in listing.names:
            try:
                items.append(store.resource(bucket, name, base_url=self.base_url))
            except StorageError:  # deleted while listing
                pass
        payload: dict[str, Any] = {"kind": "storage#objects", "items": items, "prefixes": listing.prefixes}
        if listing.next_page_token:
            payload["nextPageToken"] = listing.next_page_token
        self._json(200, payload)

    # -- copy and compose ---------------------------------------------------------------------------

    def _object_post(self, bucket: str, segments: list[str], query: dict[str, str], body: bytes) -> None:
        """Route ``POST .../o/{object}/compose`` and ``.../o/{object}/rewriteTo|copyTo/b/{bucket}/o/{object}``."""
        store = self.server.store
        for index, segment in enumerate(segments):
            if segment in _COPY_VERBS and index > 0 and segments[index + 1 : index + 2] == ["b"]:
                if len(segments) > index + 4 and segments[index + 3] == "o":
                    source = (bucket, unquote("/".join(segments[:index])))
                    destination = (unquote(segments[index + 2]), unquote("/".join(segments[index + 4 :])))
                    return self._copy(_COPY_VERBS[segment], source, destination, query, _json_body(body))
        if segments[-1] == "compose" and len(segments) > 1:
            name = unquote("/".join(segments[:-1]))
            request = _json_body(body)
            sources = request.get("sourceObjects") or []
            if not isinstance(sources, list) or not all(isinstance(source, dict) for source in sources):
                raise StorageError(400, "invalid", "sourceObjects must be a list of objects")
            destination = request.get("destination") or {}
            store.compose(bucket, name, sources, fields=destination, query=query)
            return self._json(200, store.resource(bucket, name, base_url=self.base_url))
        raise StorageError(501, "notImplemented", f"POST {urlsplit(self.path).path} is not emulated")

    def _copy(
        self,
        kind: str,
        source: tuple[str, str],
        destination: tuple[str, str],
        query: dict[str, str],
        fields: dict[str, Any],
    ) -> None:
        """``objects.copy`` (one call, the new object) or ``objects.rewrite`` (a rewriteResponse, maybe partial)."""
        store = self.server.store
        size = store.existing(*source).stat().st_size
        if kind == "copy":
            store.copy(source, destination, fields=fields, query=query)
            return self._json(200, store.resource(*destination, base_url=self.base_url))
        per_call = int_param(query, "maxBytesRewrittenPerCall")
        if per_call is not None and (per_call <= 0 or per_call % REWRITE_UNIT):
            raise StorageError(
                400,
                "invalid",
                f"Invalid value for maxBytesRewrittenPerCall: {per_call} (a positive multiple of 1048576)",
            )
        token = query.get("rewriteToken")
        if token:
            generation, done = _read_rewrite_token(token, source, destination)
            query = {**query, "sourceGeneration": str(generation)}  # the source must not change mid-rewrite
        else:
            store.check_preconditions(*source, query, source=True)
            store.check_preconditions(*destination, query)
            generation, done = store.generation(*source) or 0, 0
        response: dict[str, Any] = {"kind": "storage#rewriteResponse", "objectSize": str(size)}
        if per_call and done + per_call < size:
            store.existing(*source)  # a source deleted mid-rewrite is a 404 now, not at the end
            done += per_call
            token = _rewrite_token(source, destination, generation, done)
            return self._json(200, {**response, "totalBytesRewritten": str(done), "done": False, "rewriteToken": token})
        store.copy(source, destination, fields=fields, query=query)
        resource = store.resource(*destination, base_url=self.base_url)
        self._json(200, {**response, "totalBytesRewritten": str(size), "done": True, "resource": resource})

    def _download(self, bucket: str, name: str) -> None:
        data = self.server.store.existing(bucket, name).read_bytes()
        size = len(data)
        generation = str(self.server.store.generation(bucket, name) or 0)
        headers = {"Content-Type": "application/octet-stream", "x-goog-generation": generation}
        match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if match is None or match.groups() == ("", ""):
            md5, crc = hashes(data)
            composite = "componentCount" in self.server.store.metadata.read(bucket, name, int(generation))
            digest = f"crc32c={crc}" if composite else f"crc32c={crc},md5={md5}"  # composites have no MD5
            return self._send(200, data, {**headers, "x-goog-hash": digest})
        first, last = match.groups()
        start = size - int(last) if not first else int(first)
        end = size - 1 if not first or not last else min(int(last), size - 1)
        if start >= size or start > end:
            return self._send(416, b"", {"Content-Range": f"bytes */{size}"})
        self._send(206, data[max(start, 0) : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{size}"})

    # -- uploads ------------------------------------------------------------------------------------

    def _finish_upload(self, bucket: str, name: str) -> None:
        self._json(200, self.server.store.resource(bucket, name, base_url=self.base_url))

    def _upload(self, bucket: str, query: dict[str, str], body: bytes) -> None:
        store = self.server.store
        kind = query.get("uploadType", "")
        if "upload_id" in query:
            return self._resumable_chunk(query["upload_id"], body)
        if kind == "media":
            name = query.get("name", "")
            store.check_preconditions(bucket, name, query)
            store.write(bucket, name, body)
            return self._finish_upload(bucket, name)
        if kind == "multipart":
            metadata, data = self._multipart(body)
            name = metadata.get("name") or query.get("name", "")
            store.check_preconditions(bucket, name, query)
            sent_md5, sent_crc = metadata.get("md5Hash"), metadata.get("crc32c")
            md5, crc = hashes(data)
            if (sent_crc and sent_crc != crc) or (sent_md5 and sent_md5 != md5):
                raise StorageError(400, "invalid", "Provided checksum does not match the uploaded data.")
            store.write(bucket, name, data)
            return self._finish_upload(bucket, name)
        if kind == "resumable":
            metadata = json.loads(body or b"{}")
            name = metadata.get("name") or query.get("name", "")
            store.object_path(bucket, name)
            store.check_preconditions(bucket, name, query)
            upload_id = uuid.uuid4().hex
            path = store.new_upload_file()
            path.touch()
            with self.server.lock:
                self.server.uploads[upload_id] = _Upload(bucket, name, path, query)
            location = f"{self.base_url}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
            return self._send(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        raise StorageError(400, "invalid", f"Unsupported uploadType {kind!r}")

    def _multipart(self, body: bytes) -> tuple[dict[str, Any], bytes]:
        content_type = self.headers.get("Content-Type", "")
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        if match is None:
            raise StorageError(400, "invalid", "A multipart upload needs a boundary")
        delimiter = b"--" + match.group(1).encode()
        sections = body.split(delimiter)
        parts = [s for s in sections[1:] if not s.startswith(b"--")]
        if len(parts) < 2:
            raise StorageError(400, "invalid", "A multipart upload needs a metadata part and a media part")

        def content(part: bytes) -> bytes:
            _, _, payload = part.partition(b"\r\n\r\n")
            return payload[:-2] if payload.endswith(b"\r\n") else payload

        return json.loads(content(parts[0]) or b"{}"), content(parts[1])

    def _resumable_chunk(self, upload_id: str, body: bytes) -> None:
        with self.server.lock:
            upload = self.server.uploads.get(upload_id)
        if upload is None:
            raise StorageError(404, "notFound", f"No such upload: {upload_id}")
        header = self.headers.get("Content-Range", "").strip()
        match = _CONTENT_RANGE.fullmatch(header) if header else None
        if header and match is None:
            raise StorageError(400, "invalid", f"Invalid Content-Range: {header!r}")
        with upload.lock:
            first, _, total = match.groups() if match else ("0", None, str(len(body)))
            if first is not None and body:
                skip = upload.received - int(first)  # a retried chunk overlaps what we have
                if skip < 0:
                    raise StorageError(400, "invalid", f"Chunk starts at {first}, expected {upload.received}")
                with upload.path.open("ab") as file:
                    file.write(body[skip:])
                upload.received += max(len(body) - skip, 0)
            if total != "*" and upload.received >= int(total):
                self.server.store.check_preconditions(upload.bucket, upload.name, upload.query)
                self.server.store.commit(upload.bucket, upload.name, upload.path)
                with self.server.lock:
                    self.server.uploads.pop(upload_id, None)
                return self._finish_upload(upload.bucket, upload.name)
            headers = {"Range": f"bytes=0-{upload.received - 1}"} if upload.received else {}
            self._send(308, b"", headers)


class StorageServer(ThreadingHTTPServer):
    """The storage HTTP server; :meth:`start` serves it from a thread.

    :param store: the objects it serves.
    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one.
    """

    daemon_threads = True

    def __init__(self, store: ObjectStore, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.store = store
        self.lock = threading.Lock()
        self.uploads: dict[str, _Upload] = {}
        self._thread: threading.Thread | None = None

    @property
    def netloc(self) -> str:
        """Return ``host:port`` of the server."""
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """Return the server's base URL, ``http://host:port``."""
        return f"http://{self.netloc}"

    def start(self) -> None:
        """Serve requests from a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="storage", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
