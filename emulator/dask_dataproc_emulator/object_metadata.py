"""What an object keeps beside its bytes: content type, custom metadata, metageneration, component count.

Kept in a small JSON file per object under ``DATA_DIR/.gcs-metadata/BUCKET/`` (named by a hash of the
object's name, so no object name can collide with another's file), stamped with the generation it
describes. When the object's file changes (a job writes it, an upload replaces it) the stamp no
longer matches and the object has no kept metadata: its content type is guessed from its name again,
as for any file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: The resource fields a request may set on an object, and that copies carry over.
SETTABLE_FIELDS = (
    "contentType",
    "contentEncoding",
    "contentDisposition",
    "contentLanguage",
    "cacheControl",
    "metadata",
)


class MetadataFiles:
    """The kept metadata of every object, one file each.

    :param root: the directory of the metadata files (one subdirectory per bucket).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, bucket: str, name: str) -> Path:
        return self.root / bucket / (hashlib.sha256(name.encode()).hexdigest() + ".json")

    def read(self, bucket: str, name: str, generation: int) -> dict[str, Any]:
        """Return the kept fields of this generation of the object ({} when none are kept)."""
        try:
            kept = json.loads(self._path(bucket, name).read_text())
        except (OSError, ValueError):
            return {}
        return kept["fields"] if kept.get("generation") == generation and kept.get("name") == name else {}

    def write(self, bucket: str, name: str, generation: int, fields: dict[str, Any]) -> None:
        """Keep ``fields`` for this generation of the object (nothing is kept when they are empty)."""
        path = self._path(bucket, name)
        if not fields:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        content = json.dumps({"name": name, "generation": generation, "fields": fields})
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
            file.write(content)
        os.replace(file.name, path)

    def delete(self, bucket: str, name: str) -> None:
        """Forget an object's kept fields."""
        self._path(bucket, name).unlink(missing_ok=True)


def settable(resource: dict[str, Any]) -> dict[str, Any]:
    """Return the fields of a request's object resource that an object keeps."""
    return {key: resource[key] for key in SETTABLE_FIELDS if resource.get(key) is not None}


def patched(kept: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return ``kept`` with a PATCH applied: null removes a field, ``metadata`` keys merge (null removes one)."""
    result = dict(kept)
    for key in SETTABLE_FIELDS:
        if key not in patch:
            continue
        value = patch[key]
        if value is None:
            result.pop(key, None)
        elif key == "metadata":
            merged = {**result.get("metadata", {}), **value}
            result["metadata"] = {k: v for k, v in merged.items() if v is not None}
        else:
            result[key] = value
    return result
