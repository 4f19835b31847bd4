"""Block Kit rendering on its own: every reply fits Slack's limits, typed text cannot ping or
link anyone, and every message has a plain-text fallback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack_app.blocks import (
    MAX_BLOCKS,
    SAVE_ACTION_ID,
    escape,
    render,
    unfurl,
    vote_button,
    with_vote_count,
)
from bot.models import Paper
from bot.replies import (
    Highlight,
    Notice,
    PaperCard,
    PaperDetail,
    PaperList,
    Reply,
    VoteRecorded,
)
from tests.papers import seed_papers
from tests.slack.fake_slack import block_kit_problems

PAPER = seed_papers()[0]


def fits(reply: Reply) -> None:
    message = render(reply)
    assert message.text.strip(), "a plain-text fallback"
    assert block_kit_problems(list(message.blocks), message.text) == []


def test_a_500_result_list_is_cut_with_a_more_hint() -> None:
    cards = tuple(PaperCard(replace(PAPER, id=f"0002.{n:05d}"), team_votes=n) for n in range(500))
    message = render(PaperList("Results for everything", cards, total=500))

    assert len(message.blocks) <= MAX_BLOCKS
    assert block_kit_problems(list(message.blocks), message.text) == []
    hint = message.blocks[-1]["elements"][0]["text"]
    assert hint.startswith("Showing ") and " of 500." in hint
    assert message.text.endswith("more.")


def test_a_short_list_keeps_the_cores_hint_and_footer() -> None:
    cards = (PaperCard(PAPER),)
    message = render(PaperList("Results", cards, total=40, more_hint="Showing 1 of 40.",
                               footer="Daily picks at 09:00."))  # fmt: skip
    texts = [b["elements"][0]["text"] for b in message.blocks if b["type"] == "context"]
    assert texts == ["Showing 1 of 40.", "Daily picks at 09:00."]


def test_an_empty_list_says_so() -> None:
    message = render(PaperList("Results", (), total=0, empty_text="No papers match <x>."))
    assert message.blocks[0]["text"]["text"] == "No papers match &lt;x&gt;."


def test_a_card_links_the_title_and_shows_the_facts() -> None:
    card = PaperCard(PAPER, team_votes=3, reason="Matches your topic `attention`",
                     shared_by=("U123ABC", "someone"), comments=("a <b> c",))  # fmt: skip
    [section, notes, actions] = render(PaperDetail(card)).blocks
    text = section["text"]["text"]
    assert text.startswith(f"*<https://arxiv.org/abs/{PAPER.id}|{PAPER.title}>*")
    assert "Guangxuan Xiao, Yuandong Tian, Beidi Chen et al. · 2026-11-26 · cs.CL, cs.AI" in text
    assert "▲ 412 on Hugging Face" in text
    assert "<https://arxiv.org/pdf/0001.00001|PDF>" in text
    assert section["accessory"] == vote_button(PAPER.id, 3)
    assert section["accessory"]["text"]["text"] == "▲ Upvote · 3"
    elements = [e["text"] for e in notes["elements"]]
    assert elements == ["Matches your topic `attention`", "Shared by <@U123ABC>, someone",
                        "“a &lt;b&gt; c”"]  # fmt: skip
    [save, more] = actions["elements"]
    assert (save["action_id"], save["value"], save["text"]["text"]) == (
        SAVE_ACTION_ID,
        PAPER.id,
        "Save",
    )
    assert (more["action_id"], more["value"]) == ("paperboy_similar", PAPER.id)
    assert more["text"]["text"] == "More like this"


def test_matched_words_are_bold() -> None:
    snippet = Highlight("we keep attention sinks & more", ((8, 17), (18, 23)))
    [section] = render(PaperList("R", (PaperCard(PAPER, snippet=snippet),), 1)).blocks[2:3]
    assert "we keep *attention* *sinks* &amp; more" in section["text"]["text"]


def test_typed_markup_cannot_ping_or_link() -> None:
    text = render(Notice("I don't know `<!channel>` or <@U1> or <https://evil|x>")).blocks[0]
    assert "<" not in text["text"]["text"]
    assert escape("<!here> & co") == "&lt;!here&gt; &amp; co"


def test_a_huge_notice_is_split_into_sections() -> None:
    fits(Notice("Lots", lines=tuple("line " * 200 for _ in range(200))))


def test_vote_recorded_is_a_short_message() -> None:
    message = render(VoteRecorded(PaperCard(PAPER, team_votes=2), voted=True))
    assert message.text.startswith("Upvoted “Efficient Streaming")
    assert not message.public


def test_public_replies_go_in_channel() -> None:
    assert render(Notice("x", public=True)).payload()["response_type"] == "in_channel"
    assert render(Notice("x")).payload()["response_type"] == "ephemeral"


def test_an_unfurl_is_one_compact_card() -> None:
    blocks = unfurl(PaperCard(PAPER, team_votes=1, shared_by=("U1AAA",)))["blocks"]
    assert [block["type"] for block in blocks] == ["section", "actions"]  # card, Save
    assert block_kit_problems(blocks) == []


def test_the_vote_count_is_redrawn_on_the_right_card_only() -> None:
    cards = tuple(PaperCard(p) for p in seed_papers()[:3])
    blocks = list(render(PaperList("R", cards, 3)).blocks)
    at = next(
        n for n, b in enumerate(blocks) if b.get("block_id") == f"paper:1:{cards[1].paper.id}"
    )
    target = blocks[at]
    updated = with_vote_count(blocks, target["block_id"], cards[1].paper.id, 5)
    assert updated is not None
    changed = [a for a, b in zip(blocks, updated, strict=True) if a != b]
    assert [c["block_id"] for c in changed] == [target["block_id"]]
    assert updated[at]["accessory"]["text"]["text"] == "▲ Upvote · 5"
    assert with_vote_count(blocks, "paper:9:nope", "nope", 1) is None


texts = st.text(st.characters(codec="utf-8"), max_size=4000)


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    return Paper(
        id=draw(st.sampled_from(["2401.00001", "hep-th/9901001", "sample-001"])),
        title=draw(texts.filter(str.strip)),
        abstract=draw(texts),
        authors=tuple(draw(st.lists(st.text(max_size=300), max_size=60))),
        published=datetime(2024, 1, 2, tzinfo=UTC),
        categories=tuple(draw(st.lists(st.text(max_size=50), max_size=8))),
        hf_upvotes=draw(st.integers(0, 10**9)),
        on_hf=draw(st.booleans()),
        code_url=draw(st.one_of(st.none(), st.just("https://github.com/a|b>c"))),
        ai_summary=draw(st.one_of(st.none(), texts)),
        github_stars=draw(st.one_of(st.none(), st.integers(0, 10**9))),
    )


@st.composite
def cards(draw: st.DrawFn) -> PaperCard:
    paper = draw(papers())
    spans = draw(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), max_size=5))
    snippet = draw(st.one_of(st.none(), st.builds(Highlight, texts,
                                                   st.just(tuple(sorted(spans))))))  # fmt: skip
    return PaperCard(
        paper, team_votes=draw(st.integers(0, 10**12)), snippet=snippet,
        reason=draw(st.one_of(st.none(), texts)),
        shared_by=tuple(draw(st.lists(st.text(max_size=40), max_size=20))),
        comments=tuple(draw(st.lists(texts, max_size=12))),
        reading=draw(st.sampled_from([None, "unread", "read"])),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(cards(), min_size=1, max_size=30), texts, st.one_of(st.none(), texts),
    st.lists(texts, max_size=4),
)  # fmt: skip
def test_any_list_fits_block_kit(
    found: list[PaperCard], title: str, hint: str | None, intro: list[str]
) -> None:
    fits(PaperList(title or "x", tuple(found), len(found), more_hint=hint, footer=hint,
                   intro=tuple(intro)))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(cards())
def test_any_card_fits_block_kit(card: PaperCard) -> None:
    fits(PaperDetail(card))
    assert block_kit_problems(unfurl(card)["blocks"]) == []


@settings(max_examples=40, deadline=None)
@given(texts.filter(str.strip), st.lists(texts, max_size=80))
def test_any_notice_fits_block_kit(text: str, lines: list[str]) -> None:
    fits(Notice(text, lines=tuple(lines)))


def test_a_long_snippet_is_cut_with_its_matches_still_in_place() -> None:
    text = "lead  in\n" + "word " * 100 + "attention at the end"
    start = text.index("word")
    snippet = Highlight(text, ((start, start + 4),))
    [section] = render(PaperList("R", (PaperCard(PAPER, snippet=snippet),), 1)).blocks[2:3]
    body = section["text"]["text"]
    assert "lead  in\n*word* word" in body
    assert body.endswith("…")


def card_text(card: PaperCard) -> str:
    [section] = render(PaperList("R", (card,), 1)).blocks[2:3]
    text: str = section["text"]["text"]
    return text


def test_a_card_has_hugging_faces_tldr_above_the_excerpt_and_its_code_with_stars() -> None:
    repo = "https://github.com/mit-han-lab/streaming-llm"
    paper = replace(PAPER, ai_summary="Sinks keep <streaming> LLMs stable.", code_url=repo,
                    github_stars=6543)  # fmt: skip
    lines = card_text(PaperCard(paper)).split("\n")

    assert (
        ":computer: <https://github.com/mit-han-lab/streaming-llm|mit-han-lab/streaming-llm ★ 6.5k>"
        in lines
    )
    tldr = lines.index("*TL;DR* Sinks keep &lt;streaming&gt; LLMs stable.")
    assert lines[tldr + 1].startswith(escape(PAPER.abstract[:40]))
    detail = render(PaperDetail(PaperCard(paper))).blocks[0]["text"]["text"]
    assert "|Code: mit-han-lab/streaming-llm ★ 6.5k>" in detail


def test_without_a_summary_the_tldr_is_the_first_sentence_said_once() -> None:
    paper = replace(PAPER, abstract="We fix streaming. It works well. Code is out.",
                    ai_summary=None)  # fmt: skip
    text = card_text(PaperCard(paper))

    assert "*TL;DR* We fix streaming.\nIt works well. Code is out." in text
    assert text.count("We fix streaming") == 1


def test_a_saved_card_shows_the_reading_state() -> None:
    unread = render(PaperList("R", (PaperCard(PAPER, reading="unread"),), 1))
    read = render(PaperList("R", (PaperCard(PAPER, reading="read"),), 1))

    assert ":bookmark: Saved, unread" in unread.blocks[2]["text"]["text"]
    assert "✓ Read" in read.blocks[2]["text"]["text"]
    assert unread.blocks[3]["elements"][0]["text"]["text"] == "✓ Saved"


def test_a_digest_intro_comes_right_under_the_title() -> None:
    intro = (
        "This week in journal club: Fri — <@U1> presents “X”",
        "Most discussed: “Y” (3 replies)",
    )
    message = render(PaperList("This week's team digest", (PaperCard(PAPER),), 1, intro=intro))

    assert message.blocks[1]["text"]["text"] == "\n".join(escape(line) for line in intro)
    assert "Most discussed: “Y” (3 replies)" in message.text
