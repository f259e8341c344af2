"""The Cloud Storage subset, through an unmodified google-cloud-storage client."""

from __future__ import annotations

import base64
import hashlib

import pytest
from google.api_core.exceptions import NotFound, PreconditionFailed

BUCKET = "itest-storage"


@pytest.fixture(scope="module")
def bucket(storage):
    return storage.bucket(BUCKET)


def test_uploaded_string_is_a_file_in_the_data_dir(running, bucket):
    bucket.blob("notes/a.txt").upload_from_string("hello")

    assert (running.data_dir / "gcs" / BUCKET / "notes" / "a.txt").read_text() == "hello"


def test_uploaded_file_downloads_unchanged(bucket, tmp_path):
    source = tmp_path / "data.bin"
    source.write_bytes(bytes(range(256)) * 100)

    bucket.blob("files/data.bin").upload_from_filename(str(source))

    assert bucket.blob("files/data.bin").download_as_bytes() == source.read_bytes()


def test_resumable_upload_in_chunks_downloads_unchanged(bucket):
    data = bytes(range(256)) * 5000  # 1.28 MB in 256 KiB chunks of a resumable upload

    with bucket.blob("files/chunked.bin").open("wb", chunk_size=256 * 1024) as stream:
        stream.write(data)

    assert bucket.blob("files/chunked.bin").download_as_bytes() == data


def test_get_blob_reads_the_objects_metadata(bucket):
    bucket.blob("meta/m.json").upload_from_string(b'{"a": 1}')

    blob = bucket.get_blob("meta/m.json")

    assert blob.size == 8
    assert blob.md5_hash == base64.b64encode(hashlib.md5(b'{"a": 1}').digest()).decode()
    assert blob.generation > 0
    assert blob.content_type == "application/json"
    assert blob.crc32c


def test_exists_tells_present_from_absent(bucket):
    bucket.blob("there.txt").upload_from_string("x")

    assert bucket.blob("there.txt").exists()
    assert not bucket.blob("absent.txt").exists()


def test_ranged_download_returns_the_slice(bucket):
    bucket.blob("range.txt").upload_from_string("0123456789")
    blob = bucket.get_blob("range.txt")

    assert blob.download_as_bytes(start=2, end=5) == b"2345"
    assert blob.download_as_bytes(start=7) == b"789"


def test_list_with_prefix_and_delimiter_separates_folders(storage, bucket):
    for name in ("tree/a.txt", "tree/b.txt", "tree/sub/c.txt", "other.txt"):
        bucket.blob(name).upload_from_string(name)

    listing = storage.list_blobs(BUCKET, prefix="tree/", delimiter="/")
    names = [blob.name for blob in listing]

    assert names == ["tree/a.txt", "tree/b.txt"]
    assert listing.prefixes == {"tree/sub/"}


def test_list_pages_through_every_object(storage, bucket):
    for index in range(5):
        bucket.blob(f"paged/{index}.txt").upload_from_string("x")

    names = [blob.name for blob in storage.list_blobs(BUCKET, prefix="paged/", max_results=5, page_size=2)]

    assert names == [f"paged/{index}.txt" for index in range(5)]


def test_deleted_blob_no_longer_exists(bucket):
    bucket.blob("doomed.txt").upload_from_string("x")

    bucket.blob("doomed.txt").delete()

    assert not bucket.blob("doomed.txt").exists()


def test_download_of_a_missing_object_is_not_found(bucket):
    with pytest.raises(NotFound):
        bucket.blob("never/written.txt").download_as_bytes()


def test_upload_with_if_generation_match_zero_refuses_to_overwrite(bucket):
    bucket.blob("once.txt").upload_from_string("first")

    with pytest.raises(PreconditionFailed):
        bucket.blob("once.txt").upload_from_string("second", if_generation_match=0)


def test_files_written_by_jobs_are_objects(running, storage):
    path = running.data_dir / "gcs" / "written-by-job" / "out" / "part-0.csv"
    path.parent.mkdir(parents=True)
    path.write_text("a,b\n")

    assert [blob.name for blob in storage.list_blobs("written-by-job")] == ["out/part-0.csv"]
