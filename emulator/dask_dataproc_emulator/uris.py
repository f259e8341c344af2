"""Where the emulator keeps what a URI names.

Cloud Storage is a directory: ``gs://BUCKET/OBJECT`` is the file ``DATA_DIR/gcs/BUCKET/OBJECT``, served
over HTTP by :mod:`dask_dataproc_emulator.storage`. ``file:///abs/path`` and plain absolute
paths are used as they are. Job arguments are rewritten with :func:`rewrite_arg`: an argument that is
a ``gs://`` URI, or ``--flag=gs://...``, becomes the local path, so a Dask driver written for Dataproc
reads and writes the same objects through plain files.
"""

from __future__ import annotations

from pathlib import Path

from dask_dataproc_emulator.errors import InvalidArgumentError


def is_gcs(uri: str) -> bool:
    """Return whether ``uri`` names a Cloud Storage object or prefix."""
    return uri.startswith("gs://")


def local_path(uri: str, gcs_dir: Path, *, field: str) -> Path:
    """Return the local file a ``gs://``, ``file://`` or absolute URI names.

    :param gcs_dir: the directory holding one subdirectory per bucket.
    :param field: request field of the URI, named in the error.
    :raises InvalidArgumentError: for relative paths and other schemes (``hdfs://`` and such).
    """
    if is_gcs(uri):
        bucket, _, name = uri[len("gs://") :].partition("/")
        if not bucket or bucket in (".", "..") or ".." in Path(name).parts:
            raise InvalidArgumentError(f"Invalid {field} {uri!r}: not a gs://BUCKET/OBJECT URI")
        return gcs_dir / bucket / name
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if uri.startswith("/"):
        return Path(uri)
    raise InvalidArgumentError(
        f"Invalid {field} {uri!r}: the emulator accepts gs://, file:// URIs and absolute paths only"
    )


def rewrite_arg(arg: str, gcs_dir: Path) -> str:
    """Return a job argument with a ``gs://`` URI (alone or after ``--flag=``) made a local path.

    The parent directory of the path is created, as if the bucket and its "folders" existed.
    Other arguments are returned unchanged.
    """
    flag, sep, value = arg.partition("=")
    if not is_gcs(arg) and not (sep and flag.startswith("-") and is_gcs(value)):
        return arg
    uri = arg if is_gcs(arg) else value
    path = local_path(uri, gcs_dir, field="job argument")
    path.parent.mkdir(parents=True, exist_ok=True)
    local = str(path) + ("/" if uri.endswith("/") else "")
    return local if is_gcs(arg) else f"{flag}={local}"
