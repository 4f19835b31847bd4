"""Team knowledge on Slack, end to end: the Save button, exports uploaded through Slack's
external upload flow, direct messages, the App Home tab, and replies counted in threads."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

import bibtexparser
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackApp, SlackPoster
from adapters.slack_app.blocks import SAVE_ACTION_ID
from adapters.slack_app.files import FileUploader, UploadFailed
from adapters.slack_app.home import MAX_HOME_BLOCKS, home_view
from adapters.slack_app.listeners import WORKING_TEXT
from bot.club import ClubReminders, channel_schedule, reminder_due_at
from bot.commands import HomeSummary
from bot.delivery import DigestDelivery
from bot.models import ChannelRef, Subscription
from bot.ports import DeliveryError
from bot.replies import FileReply, Notice, PaperCard, PaperDetail, PaperList
from bot.scheduling import ChannelSchedule
from bot.storage import Store, utc_now
from tests.conftest import Clock
from tests.papers import NOW, seed_papers
from tests.slack.fake_slack import BOT_USER, FakeSlack, block_kit_problems
from tests.slack.test_slack_poster import slack_waits
from tests.slack.workspace import (
    BOT_TOKEN,
    CHANNEL,
    TEAM,
    USER,
    FakeClock,
    Serve,
    Workspace,
    payload,
)

HERE = ChannelRef("slack", TEAM, CHANNEL)
STREAMING = "0001.00001"


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)


def event(inner: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API envelope, as Slack sends it."""
    body = payload("link_shared")
    body.update(event_id=event_id, event=inner)
    return body


def reply_event(thread_ts: str, ts: str, user: str, **changes: Any) -> dict[str, Any]:
    message = {"type": "message", "channel": CHANNEL, "user": user, "text": "interesting!",
               "ts": ts, "thread_ts": thread_ts, "parent_user_id": USER,
               "channel_type": "channel", "event_ts": ts, **changes}  # fmt: skip
    return event(message, f"Ev{ts.replace('.', '')}{user}")


# -- the Save button -----------------------------------------------------------------------------


def save_click(slack: Workspace, message: dict[str, Any], paper_id: str, user: str) -> Any:
    body = slack.click_payload(message, paper_id, user=user)
    block = next(
        b for b in message["blocks"] if b["type"] == "actions"
        and any(e.get("value") == paper_id for e in b["elements"])
    )  # fmt: skip
    [button] = [e for e in block["elements"] if e["action_id"] == SAVE_ACTION_ID]
    body["actions"][0].update(action_id=button["action_id"], block_id=block["block_id"],
                              value=button["value"], text=button["text"])  # fmt: skip
    return body


async def shared_list(slack: Workspace) -> dict[str, Any]:
    answer = (await slack.command("search attention --share")).json()
    return {"ts": "1700000000.000100", "blocks": answer["blocks"], "text": answer["text"]}


async def test_save_puts_the_paper_on_the_clickers_reading_list_and_tells_only_them(
    slack: Workspace, store: Store, slack_app: SlackApp, fake_clock: FakeClock
) -> None:
    message = await shared_list(slack)

    await slack.action(save_click(slack, message, STREAMING, user="U1"))
    [said] = await slack.fake.wait_for("response_url")

    assert said.params["response_type"] == "ephemeral"
    assert said.params["replace_original"] is False  # the shared list stays as it was
    assert said.params["text"].startswith("Saved “Efficient Streaming Language Models")
    assert "(1 unread)" in said.params["text"]
    assert [s.paper_id for s in await store.reading_list(HERE, "U1")] == [STREAMING]
    assert await store.reading_list(HERE, "U2") == []

    fake_clock.advance(5)
    await slack.action(save_click(slack, message, STREAMING, user="U1"))
    said = (await slack.fake.wait_for("response_url", 2))[-1]
    assert "already on your reading list" in said.params["text"]


async def test_a_repeated_save_delivery_answers_once(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    message = await shared_list(slack)
    click = save_click(slack, message, STREAMING, user="U1")

    for retry in range(3):
        await slack.action(click, headers={"X-Slack-Retry-Num": str(retry)})
    await slack_app.drain()

    assert len(slack.fake.calls_to("response_url")) == 1


# -- exports -------------------------------------------------------------------------------------

TRICKY = "Schr{\\\"o}dinger's {Cat}: $\\alpha$-Attention, Ünïcode & 100% {braces}"


async def test_export_uploads_a_bibtex_file_to_the_channel_that_parses(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    tricky = replace(seed_papers()[2], id="2401.09999", title=TRICKY)
    await store.upsert_papers([tricky], now=NOW)
    await slack.command(f"vote {tricky.id}", user="U1")
    await slack.command(f"vote {STREAMING}", user="U1")
    await slack.command(f"vote {STREAMING}", user="U2")

    ack = (await slack.command("export bibtex")).json()
    await slack_app.drain()

    assert ack["response_type"] == "ephemeral"
    assert ack["text"].startswith("Uploading `paperboy-team-papers-")
    [file] = slack.fake.shared_files()
    assert file.shared_in == CHANNEL and file.thread_ts is None
    assert file.filename.endswith(".bib") and file.title == file.filename
    assert (
        file.initial_comment == "BibTeX of the team's upvoted papers, most votes first (2 papers)."
    )
    library = bibtexparser.parse_string(file.text())
    assert not library.failed_blocks
    titles = [entry["title"] for entry in library.entries]
    assert titles == ["Efficient Streaming Language Models with Attention Sinks", TRICKY]
    steps = [call.method for call in slack.fake.calls if call.method.startswith(("file", "up"))]
    assert steps == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


async def test_exporting_your_reading_list_arrives_as_a_csv_in_a_direct_message(
    slack: Workspace, slack_app: SlackApp
) -> None:
    await slack.command(f"save {STREAMING}")
    await slack.command("save 0001.00002")

    await slack.command("export csv saved")
    await slack_app.drain()

    [opened] = slack.fake.calls_to("conversations.open")
    assert opened.params["users"] == USER
    [file] = slack.fake.shared_files()
    assert file.shared_in == f"D{USER}"  # not the channel: only the asker sees their list
    rows = list(csv.DictReader(io.StringIO(file.text())))
    assert {row["id"] for row in rows} == {STREAMING, "0001.00002"}
    assert list(rows[0])[:6] == ["id", "title", "authors", "published", "votes", "url"]
    [said] = slack.fake.calls_to("response_url")
    assert said.params["text"].startswith("Sent `paperboy-reading-list-")
    assert said.params["response_type"] == "ephemeral"


async def test_a_channel_paperboy_is_not_in_gets_a_friendly_hint_and_a_log_line(
    slack: Workspace, slack_app: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.command(f"vote {STREAMING}")
    slack.fake.channel_errors[CHANNEL] = "not_in_channel"

    with caplog.at_level(logging.WARNING):
        await slack.command("export csv")
        await slack_app.drain()

    [said] = slack.fake.calls_to("response_url")
    assert said.params["response_type"] == "ephemeral"
    assert "Invite me with `/invite @Paperboy`" in said.params["text"]
    assert "Traceback" not in said.params["text"]
    assert any("not_in_channel" in record.getMessage() for record in caplog.records)
    assert slack.fake.shared_files() == []


async def test_an_export_with_nothing_in_it_uploads_nothing(
    slack: Workspace, slack_app: SlackApp
) -> None:
    answer = (await slack.command("export bibtex")).json()
    await slack_app.drain()
    assert answer["text"] == "Nobody has upvoted a paper yet: nothing to export."
    assert slack.fake.calls_to("files.getUploadURLExternal") == []


def csv_reply(text: str = "id,title\n1,x\n") -> FileReply:
    return FileReply("A file.", filename="x.csv", mime_type="text/csv", data=text.encode())


async def test_a_failed_byte_upload_is_retried(fake_slack: FakeSlack) -> None:
    sleeps = Sleeps()
    fake_slack.upload_failures = 1

    uploader = FileUploader(client(fake_slack), sleep=sleeps)
    await uploader.upload(csv_reply(), "C1", thread_ts="1700000000.000100")

    assert [call.method for call in fake_slack.calls] == [
        "files.getUploadURLExternal", "upload", "upload", "files.completeUploadExternal"
    ]  # fmt: skip
    assert sleeps.slept == [0.5]
    [file] = fake_slack.shared_files()
    assert (file.text(), file.thread_ts) == ("id,title\n1,x\n", "1700000000.000100")


async def test_a_rate_limited_step_waits_for_retry_after(fake_slack: FakeSlack) -> None:
    sleeps = Sleeps()
    fake_slack.rate_limit("files.getUploadURLExternal", retry_after=3)
    fake_slack.rate_limit("files.completeUploadExternal", retry_after=2)

    count, seconds = slack_waits()

    await FileUploader(client(fake_slack), sleep=sleeps).upload(csv_reply(), "C1")

    assert sleeps.slept == [3.0, 2.0]
    assert slack_waits() == (count + 2, pytest.approx(seconds + 5.0))  # both shown on /metrics
    assert len(fake_slack.shared_files()) == 1


async def test_a_broken_connection_while_sharing_is_not_repeated(fake_slack: FakeSlack) -> None:
    fake_slack.drop("files.completeUploadExternal")

    with pytest.raises(UploadFailed) as failed:
        await FileUploader(client(fake_slack), sleep=Sleeps()).upload(csv_reply(), "C1")

    assert not failed.value.permanent
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1  # never shared twice


async def test_the_poster_uploads_a_file_reply(fake_slack: FakeSlack) -> None:
    poster = SlackPoster(client(fake_slack), sleep=Sleeps())
    await poster.post(HERE, csv_reply())
    [file] = fake_slack.shared_files()
    assert (file.shared_in, file.initial_comment) == (CHANNEL, "A file.")


# -- direct messages ------------------------------------------------------------------------------


async def test_a_direct_message_opens_the_conversation_once(fake_slack: FakeSlack) -> None:
    poster = SlackPoster(client(fake_slack), sleep=Sleeps(), clock=FakeClock())
    someone = ChannelRef.direct("slack", TEAM, "U1")

    await poster.post(someone, Notice("Hello", public=True))
    await poster.post(someone, Notice("Again", public=True))

    [opened] = fake_slack.calls_to("conversations.open")
    assert opened.params["users"] == "U1"
    posts = fake_slack.calls_to("chat.postMessage")
    sent = [(p.params["channel"], p.params["text"]) for p in posts]
    assert sent == [("DU1", "Hello"), ("DU1", "Again")]


@pytest.mark.parametrize("error", ["cannot_dm_bot", "user_not_found", "user_disabled"])
async def test_a_person_slack_will_not_let_us_write_to_is_a_permanent_failure(
    fake_slack: FakeSlack, error: str
) -> None:
    fake_slack.user_errors["U9"] = error
    poster = SlackPoster(client(fake_slack), sleep=Sleeps())

    with pytest.raises(DeliveryError) as failed:
        await poster.post(ChannelRef.direct("slack", TEAM, "U9"), Notice("Hi"))

    assert failed.value.permanent
    assert len(fake_slack.calls_to("conversations.open")) == 1
    assert fake_slack.calls_to("chat.postMessage") == []


async def test_the_presenter_is_reminded_in_a_direct_message(
    slack: Workspace, store: Store, fake_slack: FakeSlack
) -> None:
    await slack.command("present 0001.00002")
    claim = await store.club_claim(HERE, "0001.00002")
    assert claim is not None
    due = reminder_due_at(claim, await channel_schedule(store, HERE))
    poster = SlackPoster(client(fake_slack), sleep=Sleeps())

    sent = await ClubReminders(store, {"slack": poster}).run_due(due + timedelta(minutes=1))

    assert sent["sent"] == 1
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.params["channel"] == f"D{USER}"
    assert post.params["text"].startswith("Reminder: tomorrow")
    assert "Tutel" in post.params["text"]


# -- App Home ------------------------------------------------------------------------------------


def view_text(view: dict[str, Any]) -> str:
    parts = []
    for block in view["blocks"]:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts)


async def test_the_home_tab_shows_my_list_the_teams_week_and_every_channels_topics(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    await slack.command("save 0001.00002")
    await slack.command(f"vote {STREAMING}", user="U1")
    await slack.command("subscribe cat:cs.CL", channel="C1")
    await slack.command('subscribe "attention sinks"', channel="C2")
    home = {"type": "app_home_opened", "user": USER, "channel": "D0001", "tab": "home",
            "event_ts": "1700000300.000100"}  # fmt: skip

    answer = await slack.event(event(home, "Ev0001HOME"))
    await slack_app.drain()

    assert answer.status == 200
    [call] = slack.fake.calls_to("views.publish")
    assert call.params["user_id"] == USER
    view = slack.fake.views[USER]  # the fake accepted it: a home view within Slack's limits
    text = view_text(view)
    mine, team, topics = (text.index(h) for h in ("Your reading list",
                                                  "Your team's top papers this week",
                                                  "Channel subscriptions"))  # fmt: skip
    assert mine < text.index("Tutel") < team < text.index("Efficient Streaming") < topics
    assert "▲ 1 team vote" in text
    assert "<#C1>: `cat:cs.CL`" in text
    assert '<#C2>: `"attention sinks"`' in text


async def test_another_persons_home_has_their_own_empty_list(
    slack: Workspace, slack_app: SlackApp
) -> None:
    await slack.command("save 0001.00002")
    home = {"type": "app_home_opened", "user": "U7", "channel": "D7", "tab": "home",
            "event_ts": "1700000300.000100"}  # fmt: skip

    await slack.event(event(home, "Ev0007HOME"))
    await slack_app.drain()

    text = view_text(slack.fake.views["U7"])
    assert "Your reading list is empty" in text
    assert "Tutel" not in text
    assert "No channel follows a topic yet" in text


async def test_opening_the_messages_tab_publishes_nothing(
    slack: Workspace, slack_app: SlackApp
) -> None:
    home = {"type": "app_home_opened", "user": USER, "channel": "D1", "tab": "messages",
            "event_ts": "1700000300.000100"}  # fmt: skip
    await slack.event(event(home, "Ev0002HOME"))
    await slack_app.drain()
    assert slack.fake.calls_to("views.publish") == []


# -- replies in threads ---------------------------------------------------------------------------


async def test_replies_under_a_shared_paper_make_the_weekly_most_discussed_line(
    slack: Workspace, store: Store, slack_app: SlackApp, fake_slack: FakeSlack, clock: Clock
) -> None:
    monday = (NOW + timedelta(days=7 - NOW.weekday())).replace(hour=9, minute=5)
    await store.channel_id(HERE, now=NOW - timedelta(days=10))
    await store.update_digests(HERE, schedule=ChannelSchedule(time(9, 0), "UTC", "daily"))
    clock.now = monday - timedelta(days=1)
    link = payload("link_shared")  # someone pastes an arXiv link on Sunday
    await slack.event(link)
    await slack_app.drain()
    parent = link["event"]["message_ts"]

    def ts(hours_before: int) -> str:
        return f"{(monday - timedelta(hours=hours_before)).timestamp():.6f}"

    for sent, user in ((ts(3), "U1"), (ts(2), "U2")):
        await slack.event(reply_event(parent, sent, user))
    await slack.event(reply_event(parent, ts(3), "U1"))  # Slack delivers one again
    await slack.event(reply_event(parent, ts(1), BOT_USER, bot_id="BBOT"))
    await slack.event(reply_event(parent, ts(1), "U3", subtype="message_changed"))
    await slack.event(reply_event(parent, parent, USER))  # the parent itself
    await slack.event(reply_event("1700000999.000001", ts(1), "U1"))  # under something else
    await slack.event(reply_event(parent, ts(24 * 8), "U4"))  # last week's
    await slack_app.drain()
    delivery = DigestDelivery(store, {"slack": SlackPoster.for_app(slack_app, sleep=Sleeps())})

    await delivery.run_due(monday)

    [weekly] = [call for call in fake_slack.calls_to("chat.postMessage")
                if call.params["text"].startswith("This week's team digest")]  # fmt: skip
    assert block_kit_problems(weekly.blocks(), weekly.params["text"]) == []
    title = "Efficient Streaming Language Models with Attention Sinks"
    line = f"Most discussed: “{title}” `0001.00001` (2 replies)"
    assert weekly.blocks()[1]["text"]["text"] == line  # right under the digest's title


async def test_replies_under_a_card_paperboy_posted_count_for_its_paper(
    slack: Workspace, store: Store, slack_app: SlackApp, fake_slack: FakeSlack
) -> None:
    poster = SlackPoster.for_app(slack_app, sleep=Sleeps())
    await poster.post(HERE, PaperDetail(PaperCard(seed_papers()[1]), public=True))
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.answer is not None
    ts = post.answer["ts"]

    await slack.event(reply_event(ts, f"{utc_now().timestamp():.6f}", "U1"))
    await slack_app.drain()

    assert post.params["channel"] == CHANNEL
    assert await store.most_discussed(HERE, utc_now() - timedelta(days=7)) == [
        (seed_papers()[1].id, 1)
    ]


def test_a_crowded_home_tab_stays_within_slacks_limits() -> None:
    papers = [replace(seed_papers()[0], id=f"2401.{n:05d}", title="T" * 400) for n in range(60)]
    cards = tuple(PaperCard(p, team_votes=n, reading="unread") for n, p in enumerate(papers))
    saved = PaperList("Your reading list", cards, total=60, footer="Mark one read…")
    top = PaperList("Your team's top papers this week", cards, total=60)
    subscriptions = tuple(
        Subscription(n, ChannelRef("slack", TEAM, f"C{n % 45}"), "q" * 300 + str(n), "U1", NOW)
        for n in range(45 * 10)
    )

    view = home_view(HomeSummary(saved, top, subscriptions))

    blocks = view["blocks"]
    assert view["type"] == "home" and len(blocks) <= MAX_HOME_BLOCKS
    for start in range(0, len(blocks), 50):
        assert block_kit_problems(blocks[start : start + 50], "x") == []
    text = view_text(view)
    assert "…and 50 more." in text  # ten of sixty papers, in each list
    assert "…and 25 more channels." in text


async def test_a_slow_export_still_uploads_after_the_ack(
    make_slack_app: Callable[..., SlackApp], serve: Serve, store: Store
) -> None:
    app = make_slack_app(ack_budget=0.0)  # every answer misses the ack
    slack = await serve(app)
    await store.toggle_vote(HERE, "U1", STREAMING)

    answer = (await slack.command("export csv")).json()
    await app.drain()

    assert answer == {"text": WORKING_TEXT, "response_type": "ephemeral"}
    [file] = slack.fake.shared_files()
    assert file.shared_in == CHANNEL
    assert file.text().splitlines()[0].startswith("id,title,authors,published,votes,url")
