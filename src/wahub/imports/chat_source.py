"""An export file opened for importing: WhatsApp's ``.zip`` (the chat's text and its media files) or the chat's
text alone (``_chat.txt``, ``WhatsApp Chat with ….txt``). The text is streamed line by line, as often as it is
read (twice: ``chat_export.survey``, then ``chat_export.entries``); a media file is read from the zip when it is
stored, never held whole in memory."""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Iterator
from typing import IO

from wahub import errors

_CHAT_NAME = re.compile(r"WhatsApp Chat (?:with |- )(?P<name>.+?)(?:\.txt|\.zip)?$", re.IGNORECASE)


def _invalid(message: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"file: {message}", field="file")


class Export:
    """``file`` (binary, seekable; the caller closes it) read as an export named ``name``. ``InvalidInput``
    (field ``file``) for an empty file, a broken zip, or a zip without a chat text."""

    def __init__(self, file: IO[bytes], name: str) -> None:
        self.name = name.replace("\\", "/").rsplit("/", 1)[-1]
        self._file = file
        self._zip: zipfile.ZipFile | None = None
        self._text: str | None = None  # the chat text's member in the zip
        self._media: dict[str, zipfile.ZipInfo] = {}
        file.seek(0, io.SEEK_END)
        if file.tell() == 0:
            raise _invalid("the file is empty: export a chat from WhatsApp (Export chat) and import the .zip or .txt")
        file.seek(0)
        if zipfile.is_zipfile(file):
            self._open_zip()
        elif self.name.lower().endswith(".zip"):
            raise _invalid(f"{self.name} is not a zip file (or it is damaged)")

    def _open_zip(self) -> None:
        try:
            self._zip = zipfile.ZipFile(self._file)
        except zipfile.BadZipFile as exc:
            raise _invalid(f"{self.name} is a damaged zip file: {exc}") from exc
        texts = []
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            base = info.filename.rsplit("/", 1)[-1]
            if base.lower().endswith(".txt") and (base == "_chat.txt" or base.startswith("WhatsApp Chat")):
                texts.append(info)
            else:
                self._media[base] = info
        if not texts:
            others = [i.filename for i in self._zip.infolist() if i.filename.lower().endswith(".txt")]
            if len(others) != 1:
                raise _invalid(
                    f"{self.name} holds no chat text (_chat.txt, or 'WhatsApp Chat with ….txt'): "
                    "it is not a WhatsApp chat export"
                )
            texts = [self._zip.getinfo(others[0])]
            self._media.pop(others[0].rsplit("/", 1)[-1], None)
        if len(texts) > 1:
            raise _invalid(f"{self.name} holds {len(texts)} chat texts: export one chat per zip")
        self._text = texts[0].filename

    @property
    def chat_name(self) -> str | None:
        """The chat's name where WhatsApp put it in the file's name (Android: 'WhatsApp Chat with Ana.txt')."""
        for candidate in (self.name, self._text or ""):
            found = _CHAT_NAME.search(candidate.rsplit("/", 1)[-1])
            if found is not None:
                return found["name"].strip() or None
        return None

    @contextlib.contextmanager
    def lines(self) -> Iterator[Iterator[str]]:
        """The chat text's lines, read as they are used (UTF-8, a byte-order mark dropped; bytes that are not
        UTF-8 read as U+FFFD rather than ending the import)."""
        raw: IO[bytes]
        if self._zip is not None and self._text is not None:
            raw = self._zip.open(self._text)
        else:
            self._file.seek(0)
            raw = self._file
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield iter(text)
        finally:
            text.detach()  # the caller's file stays open (and a zip member is closed with the zip)
            if raw is not self._file:
                raw.close()

    def has(self, name: str) -> bool:
        return name in self._media

    def size(self, name: str) -> int:
        return self._media[name].file_size

    def open(self, name: str) -> IO[bytes]:
        """A file of the zip, streamed (``has(name)`` first)."""
        if self._zip is None:
            raise KeyError(name)
        return self._zip.open(self._media[name])

    @property
    def media_files(self) -> int:
        return len(self._media)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
