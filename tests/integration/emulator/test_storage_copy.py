"""Copy (rewrite, copy), compose and full listing, through an unmodified google-cloud-storage client."""

from __future__ import annotations

import base64
import struct

import google_crc32c
import pytest
from google.api_core.exceptions import BadRequest, NotFound, PreconditionFailed

SOURCE = "itest-copy-source"
TARGET = "itest-copy-target"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def source(storage):
    return storage.bucket(SOURCE)


@pytest.fixture(scope="module")
def target(storage):
    return storage.bucket(TARGET)


def rewrite_until_done(destination, source_blob) -> list[int]:
    """Rewrite as GCSHook.rewrite does: call again with the token until there is none; return the progress."""
    token, written, _ = destination.rewrite(source_blob)
    progress = [written]
    while token is not None:
        token, written, _ = destination.rewrite(source_blob, token=token)
        progress.append(written)
    return progress


def raw_rewrite(storage, source_blob, destination, **query) -> dict:
    """POST objects.rewrite with query parameters the Python client never sends (maxBytesRewrittenPerCall)."""
    return storage._connection.api_request(
        method="POST", path=f"{source_blob.path}/rewriteTo{destination.path}", query_params=query, data={}
    )


def crc32c(data: bytes) -> str:
    return base64.b64encode(struct.pack(">I", google_crc32c.value(data))).decode()


# -- rewrite and copy -------------------------------------------------------------------------------


def test_rewrite_copies_an_object_to_another_bucket_under_a_new_name(source, target):
    source.blob("in/report.csv").upload_from_string(b"a,b\n1,2\n")
    destination = target.blob("out/renamed.csv")

    progress = rewrite_until_done(destination, source.blob("in/report.csv"))

    assert progress == [8]
    assert target.blob("out/renamed.csv").download_as_bytes() == b"a,b\n1,2\n"
    assert source.blob("in/report.csv").exists()
    copied, original = target.get_blob("out/renamed.csv"), source.get_blob("in/report.csv")
    assert (copied.crc32c, copied.md5_hash, copied.size) == (original.crc32c, original.md5_hash, original.size)
    assert copied.generation != original.generation


def test_copy_blob_copies_through_objects_copy(source, target):
    blob = source.blob("copy/me.txt")
    blob.upload_from_string(b"copied")

    copied = source.copy_blob(blob, target, new_name="copy/you.txt")

    assert copied.name == "copy/you.txt"
    assert copied.size == 6
    assert target.blob("copy/you.txt").download_as_bytes() == b"copied"


def test_a_large_rewrite_advances_by_max_bytes_per_call_and_the_client_finishes_it(storage, source, target):
    data = bytes(range(256)) * (5 * MIB // 256) + b"tail"  # 5 MiB and 4 bytes
    source.blob("large/blob.bin").upload_from_string(data)
    source_blob, destination = source.blob("large/blob.bin"), target.blob("large/copy.bin")

    first = raw_rewrite(storage, source_blob, destination, maxBytesRewrittenPerCall=2 * MIB)
    second = raw_rewrite(
        storage, source_blob, destination, maxBytesRewrittenPerCall=2 * MIB, rewriteToken=first["rewriteToken"]
    )
    assert not target.blob("large/copy.bin").exists()  # nothing is written before the last call
    token, written, size = destination.rewrite(source_blob, token=second["rewriteToken"])

    assert [first["kind"], first["done"], first["totalBytesRewritten"], first["objectSize"]] == [
        "storage#rewriteResponse",
        False,
        str(2 * MIB),
        str(len(data)),
    ]
    assert [second["done"], second["totalBytesRewritten"]] == [False, str(4 * MIB)]
    assert (token, written, size) == (None, len(data), len(data))
    assert target.blob("large/copy.bin").download_as_bytes() == data


def test_the_last_rewrite_call_answers_the_new_object(storage, source, target):
    source.blob("resp/one.txt").upload_from_string(b"one")

    response = raw_rewrite(storage, source.blob("resp/one.txt"), target.blob("resp/two.txt"))

    assert response["done"] is True
    assert response["totalBytesRewritten"] == response["objectSize"] == "3"
    assert "rewriteToken" not in response
    assert response["resource"]["name"] == "resp/two.txt"
    assert response["resource"]["bucket"] == TARGET


def test_rewrite_takes_the_destinations_content_type_and_metadata_from_the_request(source, target):
    source.blob("typed/data.bin").upload_from_string(b"x,y\n")
    destination = target.blob("typed/data.bin")
    destination.content_type = "text/csv"
    destination.metadata = {"owner": "etl"}

    rewrite_until_done(destination, source.blob("typed/data.bin"))

    copied = target.get_blob("typed/data.bin")
    assert copied.content_type == "text/csv"
    assert copied.metadata == {"owner": "etl"}


def test_a_copy_keeps_the_source_metadata_set_by_patch(source, target):
    blob = source.blob("patched/data.txt")
    blob.upload_from_string(b"p")
    blob.metadata = {"stage": "raw"}
    blob.patch()

    source.copy_blob(blob, target, new_name="patched/copy.txt")

    assert source.get_blob("patched/data.txt").metageneration == 2
    copied = target.get_blob("patched/copy.txt")
    assert copied.metadata == {"stage": "raw"}
    assert copied.metageneration == 1


def test_rewrite_into_a_bucket_that_does_not_exist_creates_it_as_uploads_do(storage, source):
    source.blob("anywhere.txt").upload_from_string(b"a")

    rewrite_until_done(storage.bucket("itest-copy-new-bucket").blob("anywhere.txt"), source.blob("anywhere.txt"))

    assert storage.bucket("itest-copy-new-bucket").blob("anywhere.txt").download_as_bytes() == b"a"


def test_rewrite_of_a_missing_object_is_not_found_with_a_json_error(source, target):
    with pytest.raises(NotFound) as raised:
        target.blob("x.txt").rewrite(source.blob("never/there.txt"))

    assert raised.value.errors[0]["reason"] == "notFound"
    assert f"{SOURCE}/never/there.txt" in raised.value.message


def test_rewrite_from_a_missing_bucket_is_not_found(storage, target):
    with pytest.raises(NotFound) as raised:
        target.blob("x.txt").rewrite(storage.bucket("itest-no-such-bucket").blob("a.txt"))

    assert raised.value.message.endswith(": The specified bucket does not exist.")


def test_rewrite_of_a_generation_that_is_gone_is_not_found(source, target):
    blob = source.blob("gen/a.txt")
    blob.upload_from_string(b"1")
    old = source.get_blob("gen/a.txt").generation
    blob.upload_from_string(b"2")

    with pytest.raises(NotFound):
        target.blob("gen/a.txt").rewrite(source.blob("gen/a.txt", generation=old))


def test_rewrite_with_if_generation_match_zero_refuses_to_overwrite(source, target):
    source.blob("once.txt").upload_from_string(b"new")
    target.blob("once.txt").upload_from_string(b"old")

    with pytest.raises(PreconditionFailed):
        target.blob("once.txt").rewrite(source.blob("once.txt"), if_generation_match=0)

    assert target.blob("once.txt").download_as_bytes() == b"old"


def test_rewrite_with_a_failing_source_precondition_is_refused(source, target):
    source.blob("precondition.txt").upload_from_string(b"p")

    with pytest.raises(PreconditionFailed):
        target.blob("precondition.txt").rewrite(source.blob("precondition.txt"), if_source_generation_match=1)


def test_max_bytes_per_call_that_is_no_multiple_of_a_mebibyte_is_a_bad_request_naming_it(storage, source, target):
    source.blob("odd.bin").upload_from_string(b"o")

    with pytest.raises(BadRequest) as raised:
        raw_rewrite(storage, source.blob("odd.bin"), target.blob("odd.bin"), maxBytesRewrittenPerCall=1000)

    assert "maxBytesRewrittenPerCall" in raised.value.message


def test_a_rewrite_token_does_not_continue_a_rewrite_to_another_destination(storage, source, target):
    source.blob("token.bin").upload_from_string(b"t" * (3 * MIB))
    first = raw_rewrite(storage, source.blob("token.bin"), target.blob("token.bin"), maxBytesRewrittenPerCall=MIB)

    with pytest.raises(BadRequest) as raised:
        target.blob("elsewhere.bin").rewrite(source.blob("token.bin"), token=first["rewriteToken"])

    assert "rewriteToken" in raised.value.message


# -- compose ----------------------------------------------------------------------------------------


def test_compose_concatenates_three_parts_into_a_composite_object(source):
    parts = [source.blob(f"parts/{index}") for index in range(3)]
    for index, part in enumerate(parts):
        part.upload_from_string(f"part {index};".encode())
    whole = source.blob("parts/whole.txt")
    whole.content_type = "text/plain"

    whole.compose(parts)

    data = b"part 0;part 1;part 2;"
    assert source.blob("parts/whole.txt").download_as_bytes() == data
    composed = source.get_blob("parts/whole.txt")
    assert composed.component_count == 3
    assert composed.crc32c == crc32c(data)
    assert composed.md5_hash is None  # composite objects have no MD5, as in Cloud Storage
    assert composed.content_type == "text/plain"


def test_composing_a_composite_counts_its_components(source):
    for name in ("cc/a", "cc/b", "cc/c"):
        source.blob(name).upload_from_string(name.encode())
    source.blob("cc/ab").compose([source.blob("cc/a"), source.blob("cc/b")])

    source.blob("cc/abc").compose([source.blob("cc/ab"), source.blob("cc/c")])

    assert source.get_blob("cc/abc").component_count == 3
    assert source.blob("cc/abc").download_as_bytes() == b"cc/acc/bcc/c"


def test_compose_with_a_missing_source_is_not_found(source):
    source.blob("lonely").upload_from_string(b"l")

    with pytest.raises(NotFound):
        source.blob("never-made").compose([source.blob("lonely"), source.blob("missing-part")])

    assert not source.blob("never-made").exists()


def test_compose_with_a_failing_source_generation_precondition_is_refused(source):
    source.blob("gp/a").upload_from_string(b"a")
    source.blob("gp/b").upload_from_string(b"b")

    with pytest.raises(PreconditionFailed):
        source.blob("gp/ab").compose([source.blob("gp/a"), source.blob("gp/b")], if_source_generation_match=[1, 2])


def test_compose_with_if_generation_match_zero_refuses_to_overwrite(source):
    source.blob("gm/a").upload_from_string(b"a")
    source.blob("gm/out").upload_from_string(b"there")

    with pytest.raises(PreconditionFailed):
        source.blob("gm/out").compose([source.blob("gm/a")], if_generation_match=0)


def test_compose_of_no_source_is_a_bad_request(storage, source):
    with pytest.raises(BadRequest) as raised:
        storage._connection.api_request(
            method="POST", path=f"{source.blob('empty').path}/compose", data={"sourceObjects": []}
        )

    assert "sourceObjects" in raised.value.message


# -- listing ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(storage):
    """A bucket of a small tree: three folders, two levels, files at the top."""
    bucket = storage.bucket("itest-list")
    names = [
        "a.txt",
        "b.csv",
        "logs/2024/01.csv",
        "logs/2024/02.json",
        "logs/2025/01.csv",
        "logs/readme.md",
        "x.txt",
        "zz/deep/er/file.csv",
    ]
    for name in names:
        bucket.blob(name).upload_from_string(name.encode())
    return names


def listed(storage, **kwargs) -> list[str]:
    return [blob.name for blob in storage.list_blobs("itest-list", **kwargs)]


def test_list_with_a_delimiter_answers_the_folders_as_prefixes(storage, tree):
    listing = storage.list_blobs("itest-list", prefix="logs/", delimiter="/")

    assert [blob.name for blob in listing] == ["logs/readme.md"]
    assert listing.prefixes == {"logs/2024/", "logs/2025/"}


def test_pages_count_objects_and_prefixes_together(storage, tree):
    pages = list(storage.list_blobs("itest-list", delimiter="/", page_size=2).pages)

    entries = [sorted([blob.name for blob in page] + list(page.prefixes)) for page in pages]
    assert entries == [["a.txt", "b.csv"], ["logs/", "x.txt"], ["zz/"]]


def test_paging_returns_every_object_once_in_name_order(storage, tree):
    assert listed(storage, page_size=3) == sorted(tree)


def test_start_and_end_offset_bound_the_listing(storage, tree):
    assert listed(storage, start_offset="b.csv", end_offset="logs/2025") == [
        "b.csv",
        "logs/2024/01.csv",
        "logs/2024/02.json",
    ]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("**/*.csv", ["b.csv", "logs/2024/01.csv", "logs/2025/01.csv", "zz/deep/er/file.csv"]),
        ("logs/*/*.csv", ["logs/2024/01.csv", "logs/2025/01.csv"]),
        ("*.txt", ["a.txt", "x.txt"]),
        ("?.txt", ["a.txt", "x.txt"]),
        ("[!a].txt", ["x.txt"]),
        ("logs/2024/*.{csv,json}", ["logs/2024/01.csv", "logs/2024/02.json"]),
        ("logs/**", ["logs/2024/01.csv", "logs/2024/02.json", "logs/2025/01.csv", "logs/readme.md"]),
    ],
)
def test_match_glob_filters_object_names(storage, tree, glob, expected):
    assert listed(storage, match_glob=glob) == expected


def test_match_glob_and_prefix_apply_together(storage, tree):
    assert listed(storage, prefix="logs/2025", match_glob="**.csv") == ["logs/2025/01.csv"]


def test_versions_lists_the_live_objects(storage, tree):
    assert listed(storage, prefix="logs/2024/", versions=True) == ["logs/2024/01.csv", "logs/2024/02.json"]


def test_list_of_a_missing_bucket_is_not_found(storage):
    with pytest.raises(NotFound):
        list(storage.list_blobs("itest-no-such-bucket"))


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"maxResults": "many"}, "maxResults"),
        ({"matchGlob": "[abc"}, "matchGlob"),
        ({"pageToken": "not-a-token"}, "pageToken"),
    ],
)
def test_a_bad_list_parameter_is_a_bad_request_naming_it(storage, tree, query, named):
    with pytest.raises(BadRequest) as raised:
        storage._connection.api_request(method="GET", path="/b/itest-list/o", query_params=query)

    assert named in raised.value.message


def test_a_page_token_of_another_listing_is_refused(storage, tree):
    first = storage._connection.api_request(
        method="GET", path="/b/itest-list/o", query_params={"prefix": "logs/", "maxResults": 1}
    )

    with pytest.raises(BadRequest):
        storage._connection.api_request(
            method="GET", path="/b/itest-list/o", query_params={"prefix": "zz/", "pageToken": first["nextPageToken"]}
        )
