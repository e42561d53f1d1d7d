"""Claims through each door: the web queue (a card says "Ana is editing", a refused approve
offers "Approve anyway"), the API (claim and release, `claimed_by`, a 409 with a message)
and SMS (the notice of a claimed draft names the claimer; A CODE ANYWAY overrides), the
texts through the real twilio client to the fake Twilio."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from approval_bot import accounts, claims, review
from approval_bot.app import create_app
from approval_bot.models import DecisionChannel, MessageStatus, Role
from approval_bot.phrases import event_sentence
from tests import fake_twilio
from tests.fake_twilio import FakeTwilio
from tests.test_api import Api, pending, state, status, token_for
from tests.test_claims import Clock
from tests.test_reviewer_sms_end_to_end import code_in, wait_for
from tests.twilio_client import BUSINESS, CUSTOMER, PUBLIC, Twilio, running
from tests.webclient import Web

S = MessageStatus
ANA_PHONE, BOB_PHONE = "+14155550123", "+14155550124"
UNTIL = "2026-12-02T14:07:00.000000+00:00"  # the test clock's 14:02 and the default 5 minutes


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(claims, "clock", fake)
    return fake


def scripted_claim(web: Web, draft: str, **form: str):
    """What the queue's script sends when the edit box opens or `c` is pressed."""
    return web.client.post(
        f"/drafts/{draft}/claim",
        data=form,
        headers={"X-CSRF-Token": web.csrf("/"), "accept": "application/json"},
    )


def takeovers(web: Web, draft: str) -> list[dict[str, object]]:
    rows = web.rows(
        "SELECT metadata FROM audit_log WHERE message_id = ? AND event = 'Draft Claim Taken Over'",
        draft,
    )
    return [json.loads(row["metadata"]) for row in rows]


# --- the web queue ---------------------------------------------------------------------------


def test_the_queue_shows_who_is_editing_and_a_refused_approve_offers_approve_anyway(web, clock):
    ana, bob = web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    answer = scripted_claim(web, draft)
    assert answer.status_code == 200
    assert answer.json()["claim"] == {
        "mine": True,
        "text": "You are editing this draft (until 14:07 UTC)",
    }
    assert "You are editing this draft (until 14:07 UTC)" in web.client.get("/").text

    web.sign_in("Bob")
    queue = web.client.get("/").text
    assert "Ana is editing (until 14:07 UTC)" in queue
    assert "Take over editing" in queue
    updates = web.client.get("/queue/updates", params={"ids": draft}).json()
    assert updates["claims"] == {draft: {"mine": False, "text": "Ana is editing (until 14:07 UTC)"}}

    refused = web.post(f"/drafts/{draft}/approve", {"next": "/", "notes": "looks fine"})
    assert refused.status_code == 409
    assert (
        "Ana is editing this draft (until 14:07 UTC): confirm below to go ahead anyway"
        in refused.text
    )
    assert "Approve anyway" in refused.text
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL

    approved = web.post(f"/drafts/{draft}/approve", {"next": "/", "override_claim": "1"})
    assert approved.status_code == 303
    assert status(web, draft) in (S.APPROVED_TO_SEND, S.SENT)
    assert takeovers(web, draft) == [
        {"by": "approve", "expires_at": UNTIL, "from_reviewer": ana.id}
    ]
    assert web.rows("SELECT * FROM draft_claims") == []
    assert bob.id != ana.id


def test_a_refused_edit_offers_to_save_anyway(web, clock):
    web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    assert scripted_claim(web, draft).status_code == 200
    web.sign_in("Bob")

    refused = web.post(f"/drafts/{draft}/edit", {"next": "/", "body": "Bob's text", "approve": "0"})

    assert refused.status_code == 409
    assert "Save edit anyway" in refused.text and "Bob&#39;s text" in refused.text
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL
    saved = web.post(
        f"/drafts/{draft}/edit",
        {"next": "/", "body": "Bob's text", "approve": "0", "override_claim": "1"},
    )
    assert saved.status_code == 303
    assert status(web, draft) == S.SUPERSEDED


def test_another_reviewers_claim_is_refused_with_the_claim_then_taken_over(web, clock):
    ana, bob = web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    scripted_claim(web, draft)
    web.sign_in("Bob")

    refused = scripted_claim(web, draft)
    assert refused.status_code == 409
    assert refused.json()["claim"] == {"mine": False, "text": "Ana is editing (until 14:07 UTC)"}

    taken = scripted_claim(web, draft, take_over="1")
    assert taken.json()["claim"]["text"] == "You are editing this draft (until 14:07 UTC)"
    assert takeovers(web, draft) == [{"by": "claim", "expires_at": UNTIL, "from_reviewer": ana.id}]
    assert [r["reviewer_id"] for r in web.rows("SELECT reviewer_id FROM draft_claims")] == [bob.id]


def test_release_from_the_card_ends_the_claim(web, clock):
    web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    scripted_claim(web, draft)
    assert "Release" in web.client.get("/").text

    released = web.post(f"/drafts/{draft}/release", {"next": "/"})

    assert released.status_code == 303
    assert web.rows("SELECT * FROM draft_claims") == []
    again = web.post(f"/drafts/{draft}/release", {"next": "/"})
    assert again.status_code == 409 and "nobody is editing this draft" in again.text
    web.sign_in("Bob")
    assert "is editing" not in web.client.get("/").text


def test_an_expired_claim_leaves_the_card(web, clock):
    web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    scripted_claim(web, draft)
    web.sign_in("Bob")
    clock.advance(minutes=5)

    assert "is editing" not in web.client.get("/").text
    assert web.client.get("/queue/updates", params={"ids": draft}).json()["claims"] == {}
    assert web.post(f"/drafts/{draft}/approve", {"next": "/"}).status_code == 303


def test_the_thread_page_shows_the_claim_and_offers_approve_anyway(web, clock):
    web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    scripted_claim(web, draft)
    web.sign_in("Bob")
    page = "/threads/%2B14155550100"

    assert "Ana is editing (until 14:07 UTC)" in web.client.get(page).text
    refused = web.post(f"/drafts/{draft}/approve", {"next": page})

    assert refused.status_code == 409
    assert "Ana is editing this draft (until 14:07 UTC)" in refused.text
    assert "Approve anyway" in refused.text
    assert (
        web.post(f"/drafts/{draft}/approve", {"next": page, "override_claim": "1"}).status_code
        == 303
    )
    assert status(web, draft) in (S.APPROVED_TO_SEND, S.SENT)


def test_claim_minutes_comes_from_the_setting(make_settings, clock):
    with TestClient(create_app(make_settings(CLAIM_MINUTES="12")), base_url=PUBLIC) as client:
        web = Web(client)
        web.reviewer("Ana")
        _, draft = pending(web)
        web.sign_in("Ana")
        assert scripted_claim(web, draft).json()["claim"]["text"] == (
            "You are editing this draft (until 14:14 UTC)"
        )


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def api(web) -> Api:
    web.reviewer("Ana")
    return Api(web, token_for(web, "Ana"))


def test_the_api_claims_lists_refuses_with_409_and_releases(web, api, clock):
    web.reviewer("Bob")
    bob = Api(web, token_for(web, "Bob"))
    _, draft = pending(web)

    claimed = api.post(f"/drafts/{draft}/claim")
    assert claimed.status_code == 200
    assert claimed.json() == {
        "draft_id": draft,
        "claimed_by": "Ana",
        "claimed_at": "2026-12-02T14:02:00.000000+00:00",
        "claimed_until": UNTIL,
    }
    (item,) = bob.get("/drafts").json()["items"]
    assert (item["claimed_by"], item["claimed_until"]) == ("Ana", UNTIL)

    before = state(web)
    refused = bob.post(f"/drafts/{draft}/approve", {"notes": "fine"})
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": 409,
        "message": "Ana is editing this draft (until 14:07 UTC); "
        "send override_claim: true to go ahead anyway",
        "claimed_by": "Ana",
        "claimed_until": UNTIL,
    }
    assert state(web) == before
    taken = bob.post(f"/drafts/{draft}/claim")
    assert (taken.status_code, taken.json()["error"]["message"]) == (
        409,
        "Ana is editing this draft (until 14:07 UTC); send take_over: true to take it over",
    )
    not_his = bob.post(f"/drafts/{draft}/release")
    assert (not_his.status_code, not_his.json()["error"]["message"]) == (
        409,
        "Ana is editing this draft (until 14:07 UTC); only they or an admin can release it",
    )
    assert state(web) == before

    released = api.post(f"/drafts/{draft}/release")
    assert released.status_code == 200
    assert released.json()["claimed_by"] is None
    assert bob.get("/drafts").json()["items"][0]["claimed_by"] is None
    assert api.post(f"/drafts/{draft}/release").status_code == 409


def test_the_api_approves_over_a_claim_when_told_to(web, api, clock):
    web.reviewer("Bob")
    bob = Api(web, token_for(web, "Bob"))
    _, draft = pending(web)
    api.post(f"/drafts/{draft}/claim")

    approved = bob.post(f"/drafts/{draft}/approve", {"override_claim": True})

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] in (S.APPROVED_TO_SEND, S.SENT)
    assert len(takeovers(web, draft)) == 1
    assert api.post(f"/drafts/{draft}/claim").status_code == 409  # decided: nothing to claim


# --- SMS, through the real twilio client to the fake Twilio -----------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from fake_twilio.running()


@pytest.fixture
def twilio(make_settings, fake) -> Iterator[Twilio]:
    settings = make_settings(
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_FROM_NUMBER=BUSINESS,
        TWILIO_API_BASE_URL=fake.url,
        SEND_POLL_SECONDS="0.1",
    )
    with running(settings) as twilio:
        for name, phone in (("Ana", ANA_PHONE), ("Bob", BOB_PHONE)):
            twilio.run(
                accounts.add_reviewer,
                twilio.db,
                name,
                phone=phone,
                password="x" * 12,
                role=Role.REVIEWER,
            )
        yield twilio


def test_by_text_a_claimed_draft_names_its_claimer_and_needs_anyway(twilio, fake, clock):
    twilio.text("Are you open on Sunday?")
    wait_for(fake, BOB_PHONE, 1)
    draft_id = twilio.rows("SELECT id FROM messages WHERE type = 'DRAFT'")[0]["id"]
    ana = twilio.run(accounts.find_reviewer, twilio.db, "Ana")
    twilio.run(review.claim, twilio.db, draft_id, ana.id, 5.0)
    # Ana saves her edit and keeps working on it: the new version's notice names her
    twilio.run(
        review.edit,
        twilio.db,
        draft_id,
        "Yes, 10 to 4 on Sundays.",
        review.Decision(ana.id, DecisionChannel.WEB),
        approve=False,
    )
    notice = wait_for(fake, BOB_PHONE, 2)[1]
    code = code_in(notice)
    assert notice == (
        f"Draft {code} for {CUSTOMER}\n"
        'They wrote: "Are you open on Sunday?"\n'
        'Draft: "Yes, 10 to 4 on Sundays."\n'
        f"Ana is editing it (until 14:07 UTC). Reply A {code} ANYWAY to send it as it is, "
        "or leave it to them."
    )

    twilio.text(f"A {code}", sender=BOB_PHONE)
    assert wait_for(fake, BOB_PHONE, 3)[2] == (
        f"Ana is editing {code} (until 14:07 UTC). "
        f"Text A {code} ANYWAY to approve it as it stands, or leave it to them."
    )
    twilio.text(f"E {code} Yes, open Sundays.", sender=BOB_PHONE)
    assert wait_for(fake, BOB_PHONE, 4)[3].startswith(f"Ana is editing {code} ")
    assert fake.accepted_to(CUSTOMER) == []

    twilio.text(f"A {code} anyway", sender=BOB_PHONE)
    assert wait_for(fake, BOB_PHONE, 5)[4].startswith(f"Approved {code}")
    assert wait_for(fake, CUSTOMER, 1) == ["Yes, 10 to 4 on Sundays."]


def test_the_api_takes_a_claim_over_when_told_to(web, api, clock):
    web.reviewer("Bob")
    bob = Api(web, token_for(web, "Bob"))
    _, draft = pending(web)
    api.post(f"/drafts/{draft}/claim")
    clock.advance(minutes=1)

    taken = bob.post(f"/drafts/{draft}/claim", {"take_over": True})

    assert taken.status_code == 200, taken.text
    assert (taken.json()["claimed_by"], taken.json()["claimed_until"]) == (
        "Bob",
        "2026-12-02T14:08:00.000000+00:00",
    )
    assert [t["by"] for t in takeovers(web, draft)] == ["claim"]
    refused = api.post(f"/drafts/{draft}/approve")
    assert refused.json()["error"]["claimed_by"] == "Bob"


def test_the_audit_log_says_it_in_words():
    rows = [
        ("Draft Claimed", "Claimed for editing by Ana"),
        ("Draft Claim Taken Over", "Claim taken over by Ana"),
        ("Draft Claim Released", "Claim released by Ana"),
    ]
    for event, sentence in rows:
        row = {"event": event, "actor": "Human", "actor_name": "Ana", "metadata": "{}"}
        assert event_sentence(row) == sentence


# --- a thread another reviewer has taken over: its draft is theirs, as a claim makes it -----

THREAD_PAGE = "/threads/%2B14155550100"


def held_since(web: Web) -> str:
    """'14:02 UTC': when the takeover was stored, as a reviewer reads it."""
    return f"{taken_over_at(web)[11:16]} UTC"


def taken_over_at(web: Web) -> str:
    (row,) = web.rows("SELECT taken_over_at FROM thread_controls WHERE thread_id = :t", t=CUSTOMER)
    return str(row["taken_over_at"])


def holder_overrides(web: Web, draft: str) -> list[dict[str, object]]:
    """The audit rows of an approval confirmed over another reviewer's takeover."""
    rows = web.rows(
        "SELECT metadata FROM audit_log WHERE message_id = :draft"
        " AND event = 'Draft Claim Taken Over'",
        draft=draft,
    )
    return [m for m in (json.loads(row["metadata"]) for row in rows) if "held_since" in m]


@pytest.mark.both_backends
def test_the_queue_says_who_has_the_thread_and_its_approve_needs_confirming(web):
    ana, _ = web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    assert web.post(f"/threads/{CUSTOMER}/takeover", {"next": "/"}).status_code == 303
    since = held_since(web)
    assert f"You have this thread since {since}" in web.client.get("/").text

    web.sign_in("Bob")
    assert f"Ana has this thread since {since}" in web.client.get("/").text
    before = state(web)
    refused = web.post(f"/drafts/{draft}/approve", {"next": "/", "notes": "fine"})
    assert refused.status_code == 409
    assert (
        f"Ana has this thread since {since}: confirm below to go ahead anyway, "
        "or leave it to them." in refused.text
    )
    assert "Approve anyway" in refused.text
    edited = web.post(f"/drafts/{draft}/edit", {"next": "/", "body": "Bob's", "approve": "1"})
    assert edited.status_code == 409 and "Edit &amp; approve anyway" in edited.text
    assert state(web) == before

    approved = web.post(f"/drafts/{draft}/approve", {"next": "/", "override_claim": "1"})
    assert approved.status_code == 303
    assert status(web, draft) in (S.APPROVED_TO_SEND, S.SENT)
    (override,) = holder_overrides(web, draft)
    assert (override["by"], override["from_reviewer"]) == ("approve", ana.id)
    # Ana still has the thread: the confirmation overrode her hold on this draft only
    assert [r["taken_over_by"] for r in web.rows("SELECT taken_over_by FROM thread_controls")] == [
        ana.id
    ]


@pytest.mark.both_backends
def test_the_holder_approves_their_threads_draft_without_confirming(web):
    web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    web.post(f"/threads/{CUSTOMER}/takeover", {"next": "/"})

    approved = web.post(f"/drafts/{draft}/approve", {"next": "/"})

    assert approved.status_code == 303
    assert status(web, draft) in (S.APPROVED_TO_SEND, S.SENT)
    assert holder_overrides(web, draft) == []


@pytest.mark.both_backends
def test_the_thread_page_asks_to_confirm_approving_a_draft_of_a_thread_someone_has(web):
    web.reviewer("Ana"), web.reviewer("Bob")
    _, draft = pending(web)
    web.sign_in("Ana")
    web.post(f"/threads/{CUSTOMER}/takeover", {"next": THREAD_PAGE})
    since = held_since(web)
    web.sign_in("Bob")

    assert f"Ana has this thread since {since}" in web.client.get(THREAD_PAGE).text
    refused = web.post(f"/drafts/{draft}/approve", {"next": THREAD_PAGE})
    assert refused.status_code == 409
    assert f"Ana has this thread since {since}: confirm below" in refused.text
    assert "Approve anyway" in refused.text
    assert status(web, draft) == S.DRAFT_PENDING_APPROVAL
    confirmed = web.post(f"/drafts/{draft}/approve", {"next": THREAD_PAGE, "override_claim": "1"})
    assert confirmed.status_code == 303
    assert status(web, draft) in (S.APPROVED_TO_SEND, S.SENT)


@pytest.mark.both_backends
def test_the_api_refuses_approving_a_draft_of_a_thread_someone_has_unless_told_to(web, api):
    ana, _ = accounts_named(web, "Ana"), web.reviewer("Bob")
    bob = Api(web, token_for(web, "Bob"))
    _, draft = pending(web)
    assert api.post(f"/threads/{CUSTOMER}/takeover").status_code == 200
    since = taken_over_at(web)

    (item,) = bob.get("/drafts").json()["items"]
    assert (item["held_by"], item["held_since"]) == ("Ana", since)
    before = state(web)
    refused = bob.post(f"/drafts/{draft}/approve")
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": 409,
        "message": f"Ana has this thread since {since[11:16]} UTC; "
        "send override_claim: true to go ahead anyway",
        "held_by": "Ana",
        "held_since": since,
    }
    edit_and_approve = bob.post(f"/drafts/{draft}/edit", {"body": "Bob's", "approve": True})
    assert edit_and_approve.status_code == 409
    assert edit_and_approve.json()["error"]["held_by"] == "Ana"
    assert state(web) == before

    # saving an edit sends nothing: no confirmation
    saved = bob.post(f"/drafts/{draft}/edit", {"body": "Yes, 9 to 5 today.", "approve": False})
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"] == S.DRAFT_PENDING_APPROVAL
    approved = bob.post(f"/drafts/{saved.json()['id']}/approve", {"override_claim": True})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] in (S.APPROVED_TO_SEND, S.SENT)
    (override,) = holder_overrides(web, saved.json()["id"])
    assert (override["by"], override["from_reviewer"], override["held_since"]) == (
        "approve",
        ana.id,
        since,
    )


@pytest.mark.both_backends
def test_the_api_holder_approves_without_the_flag(web, api):
    web.reviewer("Bob")
    _, draft = pending(web)
    api.post(f"/threads/{CUSTOMER}/takeover")

    approved = api.post(f"/drafts/{draft}/approve")

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] in (S.APPROVED_TO_SEND, S.SENT)


def accounts_named(web: Web, name: str):
    return web.call(accounts.find_reviewer, web.db, name)


@pytest.mark.both_backends
def test_by_text_a_draft_of_a_taken_over_thread_names_the_holder_and_needs_anyway(twilio, fake):
    twilio.text("Are you open on Sunday?")
    wait_for(fake, BOB_PHONE, 1)
    draft_id = twilio.rows("SELECT id FROM messages WHERE type = 'DRAFT'")[0]["id"]
    ana = twilio.run(accounts.find_reviewer, twilio.db, "Ana")
    bob = twilio.run(accounts.find_reviewer, twilio.db, "Bob")
    twilio.run(review.take_over, twilio.db, CUSTOMER, ana.id)
    (row,) = twilio.rows("SELECT taken_over_at FROM thread_controls")
    since = f"{row['taken_over_at'][11:16]} UTC"
    # Bob saves an edit of the bot's draft: the new version's notice says whose thread it is
    twilio.run(
        review.edit,
        twilio.db,
        draft_id,
        "Yes, 10 to 4 on Sundays.",
        review.Decision(bob.id, DecisionChannel.WEB),
        approve=False,
    )
    notice = wait_for(fake, BOB_PHONE, 2)[1]
    code = code_in(notice)
    assert notice == (
        f"Draft {code} for {CUSTOMER}\n"
        'They wrote: "Are you open on Sunday?"\n'
        'Draft: "Yes, 10 to 4 on Sundays."\n'
        f"Ana has this thread since {since}. Reply A {code} ANYWAY to send it as it is, "
        "or leave it to them."
    )

    twilio.text(f"A {code}", sender=BOB_PHONE)
    assert wait_for(fake, BOB_PHONE, 3)[2] == (
        f"Ana has this thread since {since}. "
        f"Text A {code} ANYWAY to approve it as it stands, or leave it to them."
    )
    twilio.text(f"E {code} Yes, open Sundays.", sender=BOB_PHONE)
    assert wait_for(fake, BOB_PHONE, 4)[3].startswith(f"Ana has this thread since {since}. ")
    assert fake.accepted_to(CUSTOMER) == []

    twilio.text(f"A {code} anyway", sender=BOB_PHONE)
    assert wait_for(fake, BOB_PHONE, 5)[4].startswith(f"Approved {code}")
    assert wait_for(fake, CUSTOMER, 1) == ["Yes, 10 to 4 on Sundays."]


@pytest.mark.both_backends
def test_by_text_the_holder_approves_their_threads_draft_with_a_plain_a(twilio, fake):
    twilio.text("Are you open on Sunday?")
    code = code_in(wait_for(fake, ANA_PHONE, 1)[0])
    ana = twilio.run(accounts.find_reviewer, twilio.db, "Ana")
    twilio.run(review.take_over, twilio.db, CUSTOMER, ana.id)

    twilio.text(f"A {code}", sender=ANA_PHONE)

    assert wait_for(fake, ANA_PHONE, 2)[1].startswith(f"Approved {code}")
    assert len(wait_for(fake, CUSTOMER, 1)) == 1
