"""Segment preview (issue 14, item 5): encoding and segment count at Twilio's boundaries.

Expected values from Twilio's documentation: one SMS segment carries 160 GSM-7 characters
or 70 UCS-2 ones; a longer message is split into segments of 153 GSM-7 or 67 UCS-2
characters ("How long can a message be?", "What is UCS-2 character encoding?"); a
character of the GSM-7 extension table (| ^ € { } [ ] ~ \\) takes two; a single
character outside GSM-7 makes the whole message UCS-2; and Twilio's segment calculator
never splits one character across two segments.
"""

from __future__ import annotations

import pytest

from approval_bot import accounts
from approval_bot.models import Role
from approval_bot.sms_text import count_segments

from .builders import make_draft, make_inbound


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        pytest.param("a" * 160, "GSM-7", 1, id="gsm-160-one"),
        pytest.param("a" * 161, "GSM-7", 2, id="gsm-161-two"),
        pytest.param("a" * 306, "GSM-7", 2, id="gsm-2x153-two"),
        pytest.param("a" * 307, "GSM-7", 3, id="gsm-307-three"),
        pytest.param("a" * 459, "GSM-7", 3, id="gsm-3x153-three"),
        pytest.param("a" * 460, "GSM-7", 4, id="gsm-460-four"),
        pytest.param("€" * 80, "GSM-7", 1, id="euro-80-is-160-septets"),
        pytest.param("€" * 81, "GSM-7", 2, id="euro-81-is-162-septets"),
        pytest.param("[]{}" * 20, "GSM-7", 1, id="brackets-80-are-160-septets"),
        pytest.param("a" * 159 + "€", "GSM-7", 2, id="euro-at-160-makes-161"),
        # 152 septets then an escape pair: it may not straddle the 153rd septet
        pytest.param("a" * 152 + "€" + "a" * 153, "GSM-7", 3, id="escape-pair-not-split"),
        pytest.param("a" * 151 + "€" + "a" * 153, "GSM-7", 2, id="escape-pair-fits-153"),
        pytest.param("é" * 160, "GSM-7", 1, id="e-acute-is-gsm"),
        pytest.param("a" * 69 + "ç", "UCS-2", 1, id="ucs2-70-one"),
        pytest.param("a" * 70 + "ç", "UCS-2", 2, id="ucs2-71-two"),
        pytest.param("a" * 133 + "ç", "UCS-2", 2, id="ucs2-2x67-two"),
        pytest.param("a" * 134 + "ç", "UCS-2", 3, id="ucs2-135-three"),
        pytest.param("a" * 200 + "ç", "UCS-2", 3, id="ucs2-3x67-three"),
        pytest.param("a" * 201 + "ç", "UCS-2", 4, id="ucs2-202-four"),
        pytest.param("😀" * 35, "UCS-2", 1, id="emoji-35-are-70-units"),
        pytest.param("😀" * 36, "UCS-2", 2, id="emoji-36-are-72-units"),
        # 66 units then a surrogate pair: it may not straddle the 67th unit
        pytest.param("a" * 66 + "😀" + "a" * 67, "UCS-2", 3, id="surrogate-pair-not-split"),
        pytest.param("", "GSM-7", 1, id="empty"),
    ],
)
def test_encoding_and_segments_at_the_boundaries(text, encoding, segments):
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


@pytest.mark.parametrize(
    ("text", "forced_by"),
    [
        ("Your table is ready 😀", "😀"),
        ("We open at 9 — see you", "—"),  # an em dash, as a text editor would type it
        ("“Quoted” text", "“"),
        ("Plain ASCII and € {}", None),
    ],
)
def test_the_character_that_forces_ucs2_is_named(text, forced_by):
    assert count_segments(text).forced_by == forced_by


def test_the_api_answer_carries_encoding_and_segments(web):
    async def seed() -> tuple[str, str]:
        await accounts.add_reviewer(web.db, "Boss", phone=None, password="x" * 12, role=Role.ADMIN)
        draft = await make_draft(web.db, await make_inbound(web.db), "ça va? " + "a" * 70)
        return draft, await accounts.create_token(web.db, "t", "Boss")

    draft, token = web.call(seed)
    headers = {"Authorization": f"Bearer {token}"}
    message = web.client.get(f"/api/v1/messages/{draft}", headers=headers).json()
    assert (message["encoding"], message["segments"]) == ("UCS-2", 2)
    (item,) = web.client.get("/api/v1/drafts", headers=headers).json()["items"]
    assert (item["encoding"], item["segments"]) == ("UCS-2", 2)
