"""Conversation export benchmark (issue 19): a 50,000-message conversation with 500 media files, from SQLite.

1. Builds the conversation with the chat-export import bench's generator and importer (``bench/chat_import.py``):
   ``--messages`` messages (default 50,000), ``--media`` photos of ``--media-kb`` KB, into a fresh SQLite
   database and a file:// media folder.
2. Baseline, in this process: reads the conversation a page at a time (``exports/archive.pages``), rendering
   and writing nothing: what any export must do at least.
3. wahub, in this process: ``exports/bundle.write`` to a temporary file in each format (html, txt, json), as
   ``wahub export conversation`` does.
4. A thread samples this process's RSS every 5 ms; each run prints its seconds, its peak growth over the RSS just
   before it, and the file's size. Checks: every message is written, every file is in the zip.

Usage: ``.venv/bin/python bench/export.py [--messages 50000] [--media 500] [--media-kb 20] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import chat_import  # noqa: E402  (the generator and importer of the import bench)


@dataclass
class Run:
    name: str
    seconds: float
    rss_before_mb: float
    peak_growth_mb: float
    megabytes: float


async def runs(data: Path) -> list[Run]:
    import sqlalchemy as sa

    from wahub import storage
    from wahub.exports import archive, bundle
    from wahub.store import db
    from wahub.store.models import Message, utcnow

    engine = db.create_engine(f"sqlite:///{data / 'wahub.db'}")
    sessions = db.sessionmaker(engine)
    blobs = storage.from_url(f"file://{data / 'media'}")
    try:
        async with sessions() as session:
            stmt = sa.select(Message.conversation_id, sa.func.count()).group_by(Message.conversation_id)
            conversation_id, total = (await session.execute(stmt.order_by(sa.func.count().desc()))).first()
            head = await archive.header(session, conversation_id)
        out = []
        with chat_import.PeakRss() as peak:
            started = time.perf_counter()
            read = sum([len(page) async for page in archive.pages(sessions, head)])
            seconds = time.perf_counter() - started
        assert read == total, (read, total)
        out.append(Run("baseline: read the pages", seconds, peak.before, peak.peak - peak.before, 0.0))
        for fmt in bundle.Format:
            async with sessions() as session:
                chosen = await bundle.plan(session, conversation_id, fmt)
            with tempfile.TemporaryFile() as spool, chat_import.PeakRss() as peak:
                started = time.perf_counter()
                written = await bundle.write(sessions, blobs, chosen, spool, zone=bundle.UTC, now=utcnow())
                seconds = time.perf_counter() - started
                size = spool.tell()
            assert written.messages == total and not written.missing, written
            name = f"wahub: export {fmt.value} ({written.files} files)"
            out.append(Run(name, seconds, peak.before, peak.peak - peak.before, size / 1e6))
        return out
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--media", type=int, default=500)
    parser.add_argument("--media-kb", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        path = data / "WhatsApp Chat with Shop group.zip"
        chat_import.write_export(path, args.messages, args.media, args.media_kb)
        url = f"sqlite:///{data / 'wahub.db'}"
        asyncio.run(chat_import.prepare(url))
        asyncio.run(chat_import.import_once(path, data, url))
        results = asyncio.run(runs(data))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
        return 0
    print(f"export of one conversation, {args.messages} messages, {args.media} media of {args.media_kb} KB (SQLite)")
    for r in results:
        print(
            f"  {r.name:34} {r.seconds:7.2f} s   peak RSS growth {r.peak_growth_mb:6.1f} MB"
            f" (from {r.rss_before_mb:.0f} MB)   {r.megabytes:6.1f} MB written"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
