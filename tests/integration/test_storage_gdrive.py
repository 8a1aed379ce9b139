"""Google Drive storage beyond the shared contract (``test_storage_contract.py``), against the local fake of the
Drive API (``tests/gdrive_fake.py``): resumable uploads in chunks, token refresh, revisions, folders by name,
and Google's refusals turned into wahub's storage errors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
from starlette.applications import Starlette

from tests import gdrive_fake
from tests.integration.test_storage_contract import chunks_of, gdrive_url, read_all
from tests.support import free_port, running
from wahub import errors, storage
from wahub.storage import gdrive

MIB = 1024 * 1024


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Starlette, str]]:
    app = gdrive_fake.create_app()
    async with running(app) as url:
        yield app, url


def drive_of(app: Starlette) -> gdrive_fake.Drive:
    drive: gdrive_fake.Drive = app.state.drive
    return drive


async def test_a_write_goes_up_in_8_mib_chunks_and_the_file_appears_with_the_last(
    fake: tuple[Starlette, str],
) -> None:
    app, url = fake
    store = storage.from_url(gdrive_url(url))
    assert gdrive_fake.CLIENT_SECRET not in store.label and gdrive_fake.REFRESH_TOKEN not in store.label
    data = os.urandom(20 * MIB + 7)
    assert await store.write("big/file.pdf", chunks_of(data, MIB), content_type="application/pdf") == len(data)
    assert drive_of(app).chunks == [(0, 8 * MIB), (8 * MIB, 8 * MIB), (16 * MIB, 4 * MIB + 7)]
    stored = drive_of(app).path("wahub/media/big/file.pdf")
    assert stored is not None and stored.content == data and stored.mime == "application/pdf"


async def test_an_upload_goes_on_from_what_google_kept_after_a_503_and_a_short_chunk(
    fake: tuple[Starlette, str],
) -> None:
    app, url = fake
    drive_of(app).fail_chunks, drive_of(app).keep_short = 1, 1
    store = storage.from_url(gdrive_url(url))
    data = os.urandom(10 * MIB)
    await store.write("resumed/file", chunks_of(data))
    # The first chunk is refused (503) and sent again after a status check; Google keeps 256 KiB of it, so the
    # next chunk starts there.
    assert drive_of(app).chunks[:2] == [(0, 8 * MIB), (256 * 1024, 8 * MIB)]
    assert await read_all(store, "resumed/file") == data


async def test_an_upload_that_keeps_failing_is_cancelled_and_leaves_nothing(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    drive_of(app).fail_chunks = 100
    store = storage.from_url(gdrive_url(url))
    with pytest.raises(errors.StorageError, match="interrupted"):
        await store.write("failing/file", chunks_of(b"x" * MIB))
    assert drive_of(app).sessions == {}
    assert await store.size("failing/file") is None


async def test_a_reader_sees_the_old_revision_until_the_new_one_is_completely_uploaded(
    fake: tuple[Starlette, str],
) -> None:
    app, url = fake
    store = storage.from_url(gdrive_url(url))
    await store.write("report.xlsx", chunks_of(b"old report"))
    first = drive_of(app).path("wahub/media/report.xlsx")
    drive = drive_of(app)
    drive.chunk_in, drive.go_on = asyncio.Event(), asyncio.Event()
    new = os.urandom(9 * MIB)
    writing = asyncio.create_task(store.write("report.xlsx", chunks_of(new)))
    chunk_in = asyncio.create_task(drive.chunk_in.wait())
    await asyncio.wait([writing, chunk_in], return_when=asyncio.FIRST_COMPLETED)
    assert chunk_in.done(), writing.exception()  # 8 MiB are at Google, 1 MiB is still to come
    assert await read_all(store, "report.xlsx") == b"old report"
    assert await store.size("report.xlsx") == len(b"old report")
    drive.go_on.set()
    assert await writing == len(new)
    assert await read_all(store, "report.xlsx") == new
    # One file, with a new revision: links and shares made in Drive keep working.
    assert drive_of(app).path("wahub/media/report.xlsx") is first
    assert sum(i.name == "report.xlsx" for i in drive.items.values()) == 1


async def test_the_access_token_is_refreshed_before_it_lapses(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    now = [1000.0]
    store = gdrive.from_url(gdrive_url(url), clock=lambda: now[0])
    drive_of(app).expires_in = 3600
    await store.write("a/b", chunks_of(b"x"))
    assert drive_of(app).token_grants == 1
    now[0] += 3000
    assert await store.size("a/b") == 1
    assert drive_of(app).token_grants == 1  # still good for ten minutes
    now[0] += 541  # within a minute of its end
    assert await store.size("a/b") == 1
    assert drive_of(app).token_grants == 2
    assert drive_of(app).refused == 0  # renewed before Google could refuse it


async def test_a_revoked_token_is_replaced_once_and_the_call_goes_through(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    store = storage.from_url(gdrive_url(url))
    await store.write("a/b", chunks_of(b"xy"))
    drive_of(app).tokens.clear()  # revoked at Google
    assert await read_all(store, "a/b") == b"xy"
    assert (drive_of(app).token_grants, drive_of(app).refused) == (2, 1)


async def test_a_refused_access_token_fails_with_googles_reason(fake: tuple[Starlette, str]) -> None:
    _, url = fake
    store = storage.from_url(f"gdrive://wahub?access_token=ya29.expired&api_url={url}")
    assert "ya29.expired" not in store.label
    with pytest.raises(errors.StorageError, match=r"401 .*Invalid Credentials \(authError\)"):
        await store.check()


async def test_a_wrong_client_secret_fails_with_googles_reason(fake: tuple[Starlette, str]) -> None:
    _, url = fake
    store = storage.from_url(gdrive_url(url, secret="wrong"))
    with pytest.raises(errors.StorageError, match="The OAuth client was not found"):
        await store.check()


async def test_an_unreachable_drive_is_a_storage_error_from_the_connection_error() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = storage.from_url(f"gdrive://wahub?access_token=t&api_url={dead}")
    with pytest.raises(errors.StorageError, match="unreachable") as caught:
        await store.size("a/b")
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


async def test_names_with_quotes_and_backslashes_are_escaped_in_queries(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    store = storage.from_url(gdrive_url(url))
    await store.write("reports/O'Brien \\ sales.xlsx", chunks_of(b"numbers"))
    assert await read_all(store, "reports/O'Brien \\ sales.xlsx") == b"numbers"
    assert "name = 'O\\'Brien \\\\ sales.xlsx'" in drive_of(app).queries[-1]


async def test_folders_are_made_once_and_the_oldest_of_a_name_is_used(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    drive = drive_of(app)
    older = drive.add("wahub", gdrive_fake.FOLDER, gdrive_fake.ROOT)
    drive.add("wahub", gdrive_fake.FOLDER, gdrive_fake.ROOT)  # a duplicate, as Drive allows
    store = storage.from_url(gdrive_url(url))
    await asyncio.gather(*(store.write(f"sha256/ab/cd/{n}", chunks_of(b"x")) for n in range(5)))
    media = [i for i in drive.items.values() if i.name == "media"]
    assert [m.parent for m in media] == [older.id]
    assert sum(i.name == "sha256" for i in drive.items.values()) == 1


async def test_a_folder_id_that_is_missing_or_a_file_fails_the_check(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    options = f"access_token=ya29.given&api_url={url}"
    drive_of(app).tokens.add("ya29.given")
    with pytest.raises(errors.StorageError, match=r"404 .*File not found: nope\. \(notFound\)"):
        await storage.from_url(f"gdrive://?folder_id=nope&{options}").check()
    a_file = drive_of(app).add("notes.txt", "text/plain", gdrive_fake.ROOT)
    with pytest.raises(errors.StorageError, match="is not a folder"):
        await storage.from_url(f"gdrive://?folder_id={a_file.id}&{options}").check()
    shared = drive_of(app).add("Shared media", gdrive_fake.FOLDER, gdrive_fake.ROOT)
    store = storage.from_url(f"gdrive://?folder_id={shared.id}&{options}")
    await store.write("x/y", chunks_of(b"z"))
    assert drive_of(app).path("Shared media/x/y") is not None


async def test_a_folder_deleted_in_drive_is_made_again_on_the_next_write(fake: tuple[Starlette, str]) -> None:
    app, url = fake
    store = storage.from_url(gdrive_url(url))
    await store.write("reports/a.xlsx", chunks_of(b"a"))
    reports = drive_of(app).path("wahub/media/reports")
    assert reports is not None
    del drive_of(app).items[reports.id]  # someone removed it by hand (and with it, its files)
    with pytest.raises(errors.StorageError, match="File not found"):
        await store.write("reports/b.xlsx", chunks_of(b"b"))
    await store.write("reports/b.xlsx", chunks_of(b"b"))  # the retry
    assert await read_all(store, "reports/b.xlsx") == b"b"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("gdrive://wahub", "needs refresh_token, client_id, client_secret"),
        ("gdrive://wahub?refresh_token=r&client_id=c", "needs client_secret"),
        ("gdrive://wahub?access_token=t&acces_token=t", "takes no acces_token"),
        ("gdrive://wahub/../x?access_token=t", "'..'"),
    ],
)
def test_a_gdrive_url_that_cannot_work_is_refused(url: str, problem: str) -> None:
    with pytest.raises(errors.InvalidInput, match=problem):
        storage.from_url(url)
