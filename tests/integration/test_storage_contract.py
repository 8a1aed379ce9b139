"""One contract for every media storage backend that can run here: memory, a local folder, S3 over its real wire
protocol (moto's server on 127.0.0.1, started by these tests), SharePoint and Google Drive against local fakes of
their APIs. The other backends (GCS, Azure Blob, OneDrive) get configuration and error-path tests at the end."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import gdrive_fake, msgraph_fake
from tests.integration.conftest import BUCKET
from tests.support import free_port, running
from wahub import errors, storage
from wahub.storage import opendal_store
from wahub.storage.base import BlobStore


@pytest.fixture(params=["memory", "file", "s3", "sharepoint", "gdrive"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BlobStore]:
    if request.param == "memory":
        yield storage.from_url("memory://")
    elif request.param == "file":
        yield storage.from_url(f"file://{tmp_path / 'media'}")
    elif request.param == "s3":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        moto = request.getfixturevalue("moto_url")
        yield storage.from_url(f"s3://{BUCKET}/tenant-a?endpoint={moto}&region=us-east-1")
    elif request.param == "sharepoint":
        async with running(msgraph_fake.create_app()) as url:
            yield storage.from_url(sharepoint_url(url))
    else:
        async with running(gdrive_fake.create_app()) as url:
            yield storage.from_url(gdrive_url(url))


def sharepoint_url(fake: str, secret: str = msgraph_fake.CLIENT_SECRET) -> str:
    return (
        f"sharepoint://contoso.sharepoint.com/sites/Marketing/wahub-media?tenant_id={msgraph_fake.TENANT}"
        f"&client_id={msgraph_fake.CLIENT_ID}&client_secret={secret}&graph_url={fake}/v1.0&login_url={fake}/login"
    )


def gdrive_url(fake: str, secret: str = gdrive_fake.CLIENT_SECRET) -> str:
    return (
        f"gdrive://wahub/media?refresh_token={gdrive_fake.REFRESH_TOKEN}&client_id={gdrive_fake.CLIENT_ID}"
        f"&client_secret={secret}&api_url={fake}&token_url={fake}/token"
    )


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(key, start, end)])


async def test_a_streamed_blob_reads_back_byte_for_byte(store: BlobStore) -> None:
    data = os.urandom(6 * 1024 * 1024 + 123)  # over S3's 5 MiB part size: a real multipart upload
    assert await store.write("sha256/ab/cd/blob", chunks_of(data), content_type="application/pdf") == len(data)
    assert await store.size("sha256/ab/cd/blob") == len(data)
    assert hashlib.sha256(await read_all(store, "sha256/ab/cd/blob")).digest() == hashlib.sha256(data).digest()


async def test_byte_ranges_for_audio_and_video(store: BlobStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    await store.write("v/clip", chunks_of(data))
    assert await read_all(store, "v/clip", 1000, 1010) == data[1000:1010]
    assert await read_all(store, "v/clip", len(data) - 5) == data[-5:]
    assert await read_all(store, "v/clip", 300_000, 700_000) == data[300_000:700_000]  # across read chunks
    with pytest.raises(errors.InvalidInput):
        await read_all(store, "v/clip", 10, 5)


async def test_a_blob_is_invisible_until_completely_written(store: BlobStore) -> None:
    halfway, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for _ in range(12):  # 12 MiB: past any write buffer, so a backend that writes in place would show it
            yield b"x" * (1024 * 1024)
        halfway.set()
        await finish.wait()
        yield b"y" * 100_000

    writing = asyncio.create_task(store.write("slow/blob", slow()))
    await halfway.wait()
    await asyncio.sleep(0.05)
    assert await store.size("slow/blob") is None
    with pytest.raises(errors.NotFound):
        await read_all(store, "slow/blob")
    finish.set()
    assert await writing == 12 * 1024 * 1024 + 100_000
    assert await store.size("slow/blob") == 12 * 1024 * 1024 + 100_000


async def test_a_failed_write_leaves_the_old_blob_and_no_partial_one(store: BlobStore) -> None:
    await store.write("kept/blob", chunks_of(b"old content"))

    async def broken() -> AsyncIterator[bytes]:
        yield b"new content that never finishes"
        raise ConnectionError("download cut off")

    with pytest.raises(ConnectionError):
        await store.write("kept/blob", broken())
    with pytest.raises(ConnectionError):
        await store.write("never/blob", broken())
    assert await read_all(store, "kept/blob") == b"old content"
    assert await store.size("never/blob") is None


async def test_delete_and_missing_blobs(store: BlobStore) -> None:
    await store.write("gone/blob", chunks_of(b"bye"))
    await store.delete("gone/blob")
    await store.delete("gone/blob")  # twice is fine
    assert await store.size("gone/blob") is None
    with pytest.raises(errors.NotFound):
        await read_all(store, "gone/blob")


async def test_keys_cannot_escape_the_store(store: BlobStore) -> None:
    for key in ("../etc/passwd", "a/../../b", "", "/"):
        with pytest.raises(errors.InvalidInput):
            await store.write(key, chunks_of(b"x"))


async def test_check_passes_on_a_working_backend(store: BlobStore) -> None:
    await store.check()


async def test_an_unreachable_s3_fails_its_check_with_a_readable_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    store = opendal_store.from_url(f"s3://{BUCKET}/x?endpoint=http://127.0.0.1:{free_port()}&region=us-east-1")
    with pytest.raises(errors.StorageError, match=r"s3://wahub-media/x"):
        await store.check()
    with pytest.raises(errors.StorageError):
        await store.write("a/b", chunks_of(b"x"))


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (
            "gs://media-bucket/wahub?credential_path=/etc/gcs.json",
            "gs://media-bucket/wahub?credential_path=/etc/gcs.json",
        ),
        (
            "azblob://media/wahub?account_name=acme&account_key=c2VjcmV0&endpoint=https://acme.blob.core.windows.net",
            "azblob://media/wahub?account_name=acme&account_key=***&endpoint=https://acme.blob.core.windows.net",
        ),
        ("onedrive://wahub/media?access_token=EwB.secret", "onedrive://wahub/media?access_token=***"),
    ],
)
def test_other_backends_are_configured_from_their_url_without_showing_secrets(url: str, label: str) -> None:
    assert opendal_store.from_url(url).label == label


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://host/x", "scheme must be one of"),
        ("s3:///prefix", "names its bucket"),
        ("gs://", "names its bucket"),
        ("azblob:///x", "names its container"),
        ("file://media", "local folder"),
        ("file:relative/path", "absolute path"),
    ],
)
def test_a_storage_url_that_cannot_work_is_refused_with_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(errors.InvalidInput, match=problem):
        opendal_store.from_url(url)


async def test_sharepoint_uploads_in_fragments_of_320_kib_multiples_and_hides_its_secret() -> None:
    app = msgraph_fake.create_app()
    async with running(app) as url:
        store = storage.from_url(sharepoint_url(url))
        assert msgraph_fake.CLIENT_SECRET not in store.label
        data = os.urandom(25 * 1024 * 1024 + 7)
        assert await store.write("big/file", chunks_of(data, 1024 * 1024)) == len(data)
    mib = 1024 * 1024
    # In order: two fragments of 10 MiB (32 x 320 KiB) and the rest; the file appears with the last one.
    assert app.state.drive.fragments == [(0, 10 * mib), (10 * mib, 10 * mib), (20 * mib, len(data) - 20 * mib)]
    assert app.state.drive.files["wahub-media/big/file"] == data


async def test_sharepoint_with_a_wrong_secret_fails_with_microsofts_reason() -> None:
    async with running(msgraph_fake.create_app()) as url:
        store = storage.from_url(sharepoint_url(url, secret="wrong"))
        with pytest.raises(errors.StorageError, match="AADSTS7000215"):
            await store.check()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sharepoint://contoso.sharepoint.com/wahub?tenant_id=t&client_id=c&client_secret=s", "names the host"),
        ("sharepoint://contoso.sharepoint.com/sites/M/media?tenant_id=t", "client_id, client_secret"),
    ],
)
def test_a_sharepoint_url_that_cannot_work_is_refused(url: str, problem: str) -> None:
    with pytest.raises(errors.InvalidInput, match=problem):
        storage.from_url(url)
