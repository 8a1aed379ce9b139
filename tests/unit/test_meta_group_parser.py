"""Group webhooks, shaped as Meta's "Webhooks for Groups API" page shows them, become ``GroupEvent``s and are
kept whole as account events; a field wahub does not read stays in ``raw``."""

from __future__ import annotations

import json
from typing import Any

from wahub.webhook import meta

PHONE = "106540352242922"


def webhook(field: str, *items: dict[str, Any], metadata: bool = True) -> bytes:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "groups": list(items)}
    if metadata:
        value["metadata"] = {"display_phone_number": "15550783881", "phone_number_id": PHONE}
    change = {"value": value, "field": field}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]}
    ).encode()


def test_a_group_create_names_the_request_the_group_and_its_invite_link() -> None:
    item = {
        "timestamp": "1755548877",
        "group_id": "Y2FwaV9ncm91cDoxNzA1",
        "type": "group_create",
        "request_id": "7781",
        "subject": "Ops",
        "invite_link": "https://chat.whatsapp.com/LINK_ID",
        "join_approval_mode": "auto_approve",
        "something_new": {"kept": True},
    }
    parsed = meta.parse(webhook("group_lifecycle_update", item))
    (event,) = parsed.groups
    assert (event.kind, event.group_id, event.request_id, event.subject) == (
        "group_create",
        "Y2FwaV9ncm91cDoxNzA1",
        "7781",
        "Ops",
    )
    assert event.invite_link == "https://chat.whatsapp.com/LINK_ID" and event.raw["something_new"] == {"kept": True}
    (stored,) = parsed.account_events
    assert stored.field == "group_lifecycle_update" and stored.phone_number_id == PHONE
    assert stored.raw["groups"][0] == item


def test_participants_join_requests_settings_and_suspension_are_read() -> None:
    joined = {
        "timestamp": "1",
        "group_id": "G",
        "type": "group_participants_add",
        "reason": "invite_link",
        "added_participants": [{"wa_id": "14155550101"}],
    }
    asked = {
        "timestamp": "2",
        "group_id": "G",
        "type": "group_join_request_created",
        "join_request_id": "JR1",
        "wa_id": "14155550102",
    }
    left = {
        "timestamp": "3",
        "group_id": "G",
        "type": "group_participants_remove",
        "initiated_by": "participant",
        "removed_participants": [{"wa_id": "14155550101"}],
    }
    parsed = meta.parse(webhook("group_participants_update", joined, asked, left))
    assert [e.kind for e in parsed.groups] == [
        "group_participants_add",
        "group_join_request_created",
        "group_participants_remove",
    ]
    assert [r.wa_id for r in parsed.groups[0].added] == ["14155550101"]
    assert parsed.groups[1].join_request_id == "JR1" and parsed.groups[1].requester is not None
    assert [r.wa_id for r in parsed.groups[2].removed] == ["14155550101"]
    settings = {
        "timestamp": "4",
        "group_id": "G",
        "type": "group_settings_update",
        "request_id": "9",
        "group_subject": {"text": "New name", "update_successful": True},
        "group_description": {
            "text": "refused",
            "update_successful": False,
            "errors": [{"code": 131009, "title": "bad"}],
        },
    }
    (event,) = meta.parse(webhook("group_settings_update", settings)).groups
    assert (event.subject, event.description) == ("New name", None)
    (suspended,) = meta.parse(
        webhook("group_status_update", {"timestamp": "5", "group_id": "G", "type": "group_suspend"})
    ).groups
    assert suspended.kind == "group_suspend" and suspended.field == "group_status_update"


def test_a_group_webhook_without_its_number_is_still_kept_as_an_account_event() -> None:
    parsed = meta.parse(webhook("group_status_update", {"group_id": "G", "type": "group_suspend"}, metadata=False))
    assert parsed.groups == [] and [e.field for e in parsed.account_events] == ["group_status_update"]


def test_ids_and_links_longer_than_meta_s_are_kept_in_raw_only() -> None:
    item = {"group_id": "G" * 500, "type": "group_create", "request_id": "9" * 500, "invite_link": "h" * 600}
    (event,) = meta.parse(webhook("group_lifecycle_update", item)).groups
    assert (event.group_id, event.request_id, event.invite_link) == (None, None, None)
    assert event.raw["group_id"] == "G" * 500
