"""A conversation's export as one HTML page that reads offline: inline CSS, no script, no reference outside the
zip (its files are relative links under ``media/``). Every string from WhatsApp is escaped here, once.

Pure: ``archive.Item`` values in, HTML text out, written piece by piece (``head``, ``message`` for each, ``tail``).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape
from urllib.parse import quote

from wahub.exports import render
from wahub.exports.archive import Header, Item, at, business, person
from wahub.store.models import Message
from wahub.web import contents, views

_CSS = """
body{margin:0;background:#efeae2;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111b21}
header{background:#008069;color:#fff;padding:12px 20px}header h1{margin:0;font-size:18px}
header p{margin:2px 0 0;font-size:13px;opacity:.85}main{max-width:860px;margin:0 auto;padding:12px}
.day{text-align:center;margin:14px 0}.day span{background:#fff;border-radius:8px;padding:4px 10px;font-size:12px}
.msg{max-width:75%;margin:4px 0;padding:6px 9px;border-radius:8px;background:#fff;box-shadow:0 1px .5px #0002;
clear:both;overflow-wrap:anywhere}.out{margin-left:auto;background:#d9fdd3}.in{margin-right:auto}
.sys{margin:8px auto;background:#fff5c4;text-align:center;font-size:13px}
.who{font-size:12px;font-weight:600;color:#1f7a5a}.text{white-space:pre-wrap}.label{font-size:13px;color:#54656f}
.meta{text-align:right;font-size:11px;color:#667781;margin-top:2px}.tick{color:#8696a0}.tick.read{color:#53bdeb}
.failed{color:#c00}.quote{border-left:4px solid #06cf9c;background:#0000000d;padding:4px 8px;margin-bottom:4px;
font-size:13px;border-radius:4px}.deleted{font-style:italic;color:#667781}.reactions{font-size:14px;margin-top:2px}
img,video{max-width:100%;border-radius:6px;display:block}audio{width:100%}
.doc{display:block;padding:8px;background:#0000000d;border-radius:6px;text-decoration:none;color:inherit}
.missing{font-size:13px;color:#667781;font-style:italic}
"""
_TICKS = {
    "queued": ("🕓", "waiting to be sent"),
    "accepted": ("✓", "accepted by WhatsApp"),
    "sent": ("✓", "sent"),
    "delivered": ("✓✓", "delivered"),
    "read": ("✓✓", "read"),
    "played": ("✓✓", "played"),
    "failed": ("⚠", "not delivered"),
}


def head(h: Header, zone: tzinfo, exported_at: datetime) -> str:
    title = f"{person(h.contact)} · {business(h.account)}"
    names = " · ".join(escape(part) for part in (h.contact.saved_name, h.contact.profile_name, h.contact.wa_id) if part)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        # Nothing may load from the network, should a name or a message ever slip through as markup; files load
        # from the zip's folder, opened from disk (file:, which not every browser counts as 'self') or served.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src 'self' file:; media-src 'self' file:\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<header><h1>{escape(title)}</h1><p>{names}</p><p>conversation {h.conversation.id}, exported "
        f"{exported_at.astimezone(zone):%Y-%m-%d %H:%M} ({escape(str(zone))})</p></header><main>\n"
    )


def day(item: Item, zone: tzinfo) -> str:
    """The message's day, as the separator above the first message of each day shows it."""
    return f"{at(item.message).astimezone(zone):%A %d %B %Y}"


def separator(label: str) -> str:
    return f'<div class="day"><span>{escape(label)}</span></div>\n'


def message(item: Item, h: Header, zone: tzinfo, file_name: str | None) -> str:
    """One bubble; empty for a message that shows on another (a reaction, an edit, a deletion of one)."""
    m = item.message
    if not views.shown(m):
        return ""
    when = at(m).astimezone(zone)
    stamp = f'<time datetime="{when.isoformat()}">{when:%H:%M}</time>'
    if m.type == "system":
        return f'<div class="msg sys" id="m{m.id}"><span class="text">{escape(render.words(m))}</span> {stamp}</div>\n'
    side = "out" if m.direction == "outbound" else "in"
    parts = [f'<div class="msg {side}" id="m{m.id}"><div class="who">{escape(item.author)}</div>']
    if item.quoted is not None:
        quoted = item.quoted
        who = business(h.account) if quoted.direction == "outbound" else person(h.contact)
        said = render.words(quoted)[:200] or views.preview(quoted)
        parts.append(f'<a class="quote" href="#m{quoted.id}"><b>{escape(who)}</b> {escape(said)}</a>')
    elif m.reply_to_wamid:
        parts.append('<div class="quote">The original message is not in this export</div>')
    if m.revoked_at is not None:
        parts.append('<div class="deleted">🚫 This message was deleted</div>')
    else:
        parts.append(_body(item, file_name))
    if m.reactions:
        emoji = " ".join(escape(str(e)) for e in m.reactions.values() if e)
        parts.append(f'<div class="reactions" title="reactions">{emoji}</div>')
    parts.append(f'<div class="meta">{"edited · " if m.edited_at else ""}{stamp}{_ticks(item)}</div></div>\n')
    return "".join(parts)


def _body(item: Item, file_name: str | None) -> str:
    m = item.message
    out = []
    if m.type in contents.MEDIA_TYPES:
        out.append(_file(item, file_name))
    elif m.type != "text":
        out.append(f'<div class="label">{escape(views.TYPE_LABELS.get(m.type, views.TYPE_LABELS["unknown"]))}</div>')
    text = render.words(m) if m.type in ("text", *contents.MEDIA_TYPES) else _said(m)
    if text:
        out.append(f'<div class="text">{escape(text)}</div>')
    for card in contents.cards(m):
        phones = ", ".join(p.number for p in card.phones)
        out.append(f'<div class="label">👤 {escape(card.name)}{escape(" · " + phones) if phones else ""}</div>')
    return "".join(out)


def _said(m: Message) -> str:
    said = render.words(m)
    label = views.TYPE_LABELS.get(m.type, views.TYPE_LABELS["unknown"])
    return said.removeprefix(label).removeprefix(": ")


def _file(item: Item, file_name: str | None) -> str:
    what = render.kind(item.message)
    if file_name is None:
        why = "not kept by wahub" if item.media is None else f"not stored ({item.media.state})"
        label = views.TYPE_LABELS.get(item.message.type, "File")
        return f'<div class="missing">{escape(label)}: file {why}</div>'
    src = "media/" + quote(file_name)
    if what in ("image", "sticker"):
        return f'<a href="{src}"><img src="{src}" alt="{escape(file_name)}" loading="lazy"></a>'
    if what == "video":
        return f'<video controls preload="metadata" src="{src}"></video>'
    if what in ("audio", "voice"):
        return (
            f'<audio controls preload="none" src="{src}"></audio><a class="label" href="{src}">{escape(file_name)}</a>'
        )
    size = contents.size_label(item.media.size if item.media is not None else None)
    return f'<a class="doc" href="{src}">📄 {escape(file_name)}{escape(" · " + size) if size else ""}</a>'


def _ticks(item: Item) -> str:
    m = item.message
    if m.direction != "outbound" or m.status not in _TICKS:
        return ""
    mark, label = _TICKS[m.status]
    read = " read" if m.status in ("read", "played") else ""
    error = views.failure(m)
    failed = f' <span class="failed">{escape(error)}</span>' if error else ""
    return f' <span class="tick{read}" title="{label}">{mark}</span>{failed}'


TAIL = "</main></body></html>\n"
