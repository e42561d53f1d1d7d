"""The thread page, and customer text shown as text on every page."""

from __future__ import annotations

from typing import Any

import pytest

from approval_bot import review
from approval_bot.models import DecisionChannel
from approval_bot.store import Tx
from tests.builders import make_draft, make_inbound

THREAD = "+14155550100"

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "\u202eevil\u202c reversed",
    "🙂" * 10 + "x" * 1590,
]


@pytest.fixture
def ana(web):
    reviewer = web.reviewer("Ana")
    web.sign_in("Ana")
    return reviewer


def test_thread_tells_the_whole_story_in_order(web, ana):
    inbound = web.call(make_inbound, web.db, THREAD, "Do you have oat milk?")
    draft = web.call(make_draft, web.db, inbound, "Yes we do.")
    web.call(
        review.approve, web.db, draft, review.Decision(ana.id, DecisionChannel.WEB, notes="ok")
    )

    page = web.client.get(f"/threads/{THREAD}")

    assert page.status_code == 200
    text = page.text
    assert text.index("Do you have oat milk?") < text.index("Yes we do.")
    assert "Approved by Ana on the web" in text and "“ok”" in text
    assert "Approved by Ana" in text and "Conversation opened" in text  # the thread's audit events
    assert 'action="/threads/%2B14155550100/reply"' in text


def test_unknown_thread_is_404(web, ana):
    assert web.client.get("/threads/+19999999999").status_code == 404


def test_bad_thread_cursor_is_400(web, ana):
    web.call(make_inbound, web.db, THREAD)
    assert web.client.get(f"/threads/{THREAD}?before=x").status_code == 400


def test_long_threads_page_backwards(web, ana, monkeypatch):
    from approval_bot.store.views import threads

    monkeypatch.setattr(threads, "THREAD_PAGE_SIZE", 3)
    for i in range(5):
        web.call(make_inbound, web.db, THREAD, f"message number {i}")
    latest = web.client.get(f"/threads/{THREAD}").text
    assert "message number 4" in latest and "message number 1" not in latest
    cursor = latest.split("?before=")[1].split('"')[0]
    earlier = web.client.get(f"/threads/{THREAD}?before={cursor}").text
    assert "message number 1" in earlier and "message number 4" not in earlier


@pytest.mark.parametrize("payload", HOSTILE, ids=["script", "img", "js-link", "rtl", "long"])
def test_customer_text_is_shown_as_text_everywhere(web, ana, payload):
    inbound = web.call(make_inbound, web.db, THREAD, payload)
    draft = web.call(make_draft, web.db, inbound, payload)

    for path in ["/", f"/threads/{THREAD}", "/audit", f"/fragments/cards/{draft}"]:
        html = web.client.get(path).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert 'href="javascript:' not in html
        if path != "/audit":
            escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert escaped.replace('"', "&#34;") in html or escaped in html

    web.post(f"/drafts/{draft}/reject", {"reason": payload[:500]})
    assert "<script>alert" not in web.client.get("/needs-review").text


def test_media_links_only_for_https(web, ana):
    from approval_bot import workflow
    from approval_bot.models import Channel, Event, MessageType

    async def with_media(db):
        def change(conn: Tx) -> Any:
            workflow.open_conversation(conn, THREAD, Channel.SMS)
            workflow.create_message(
                conn,
                type=MessageType.INBOUND,
                event=Event.STORED,
                thread_id=THREAD,
                sender=THREAD,
                receiver="+14155550199",
                body="photo",
                media=[
                    {"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg"},
                    {"url": "javascript:alert(1)", "content_type": "image/png"},
                ],
            )

        await db.write(change)

    web.call(with_media, web.db)
    html = web.client.get(f"/threads/{THREAD}").text
    assert 'href="https://api.twilio.com/m/1"' in html
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html
