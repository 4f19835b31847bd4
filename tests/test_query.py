from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.query import (
    MAX_CHARS,
    MAX_TERMS,
    Author,
    Category,
    ParsedQuery,
    Phrase,
    QueryError,
    Word,
    parse_query,
)


def words(*texts: str) -> tuple[tuple[Word, ...], ...]:
    return tuple((Word(text),) for text in texts)


# -- operators ---------------------------------------------------------------------------------


def test_words_must_all_match() -> None:
    assert parse_query("diffusion  transformers") == ParsedQuery(words("diffusion", "transformers"))


def test_phrase() -> None:
    parsed = parse_query('"flow matching" models')
    assert parsed.groups == ((Phrase(("flow", "matching")),), (Word("models"),))


def test_exclusions() -> None:
    parsed = parse_query('diffusion -survey -"image generation"')
    assert parsed.groups == words("diffusion")
    assert parsed.exclude == (Word("survey"), Phrase(("image", "generation")))


def test_or_binds_the_two_items_around_it() -> None:
    parsed = parse_query("diffusion OR flow matching")
    assert parsed.groups == ((Word("diffusion"), Word("flow")), (Word("matching"),))


def test_or_chains() -> None:
    parsed = parse_query("a OR b OR c d")
    assert parsed.groups == ((Word("a"), Word("b"), Word("c")), (Word("d"),))


def test_lowercase_or_is_a_word() -> None:
    assert parse_query("this or that").groups == words("this", "or", "that")


@pytest.mark.parametrize("text", ["OR diffusion", "diffusion OR", "diffusion OR OR", "OR"])
def test_dangling_or_is_ignored(text: str) -> None:
    if text == "OR":
        with pytest.raises(QueryError):
            parse_query(text)
    else:
        assert parse_query(text).groups == words("diffusion")


def test_or_next_to_an_exclusion_is_ignored() -> None:
    parsed = parse_query("a OR -b c")
    assert parsed.groups == words("a", "c")
    assert parsed.exclude == (Word("b"),)


def test_author_forms() -> None:
    assert parse_query("author:hinton").groups == ((Author("hinton"),),)
    assert parse_query('author:"Geoffrey  Hinton"').groups == ((Author("Geoffrey Hinton"),),)
    assert parse_query("author: hinton").groups == ((Author("hinton"),),)
    assert parse_query('AUTHOR: "Jörg Wübben"').groups == ((Author("Jörg Wübben"),),)


def test_category_is_case_insensitive_and_canonical() -> None:
    assert parse_query("cat:CS.cl").groups == ((Category("cs.CL"),),)
    assert parse_query("cat:cond-mat.STR-EL").groups == ((Category("cond-mat.str-el"),),)
    assert parse_query("cat:hep-th").groups == ((Category("hep-th"),),)
    assert parse_query("cat:astro-ph").groups == ((Category("astro-ph"),),)


def test_an_archive_is_every_category_under_it() -> None:
    assert (
        parse_query("cat:CS").describe() == "papers matching any category of cs (Computer Science)"
    )
    astro = parse_query("cat:astro-ph").describe()
    assert astro == "papers matching any category of astro-ph (Astrophysics)"


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("cat:cs.VC", "Did you mean `cat:cs.CV` (Computer Vision and Pattern Recognition)?"),
        ("cat:cs.ML", "Did you mean `cat:stat.ML` (Machine Learning)?"),
        ("cat:hep-ht", "Did you mean `cat:hep-th` (High Energy Physics - Theory)?"),
        ("cat:physics.optic", "Did you mean `cat:physics.optics` (Optics) or"),
        ("cat:cs.NLP", "Use one like `cat:cs.CL`"),
    ],
)
def test_a_code_arxiv_does_not_have_is_refused_with_the_codes_meant(text: str, meant: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(f"transformers {text}")
    assert str(caught.value).startswith(f"`{text}` is not an arXiv category.")
    assert meant in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("since:2024-03-05", date(2024, 3, 5)),
        ("since:2024-03", date(2024, 3, 1)),
        ("since:2024", date(2024, 1, 1)),
    ],
)
def test_since_forms(text: str, expected: date) -> None:
    assert parse_query(f"agents {text}").since == expected


def test_two_sinces_keep_the_later() -> None:
    assert parse_query("agents since:2023 since:2024-06").since == date(2024, 6, 1)


def test_unknown_prefix_is_a_word() -> None:
    assert parse_query("BERT: pre-training").groups == words("BERT:", "pre-training")
    assert parse_query("arxiv:2401.00001").groups == words("arxiv:2401.00001")


def test_unbalanced_quote_is_closed_at_the_end() -> None:
    assert parse_query('agents "tool use').groups == (
        (Word("agents"),),
        (Phrase(("tool", "use")),),
    )


def test_typographic_quotes_from_chat_apps() -> None:
    assert parse_query("“flow matching”").groups == ((Phrase(("flow", "matching")),),)


def test_punctuation_only_words_are_dropped() -> None:
    assert parse_query("diffusion - ... ?").groups == words("diffusion")
    assert parse_query('"a - b"').groups == ((Phrase(("a", "b")),),)


def test_double_hyphen_still_excludes() -> None:
    assert parse_query("a --b --cat:cs.CL").exclude == (Word("b"), Category("cs.CL"))


# -- friendly errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "e.g."),
        ("   ", "e.g."),
        ("-survey", "diffusion -survey"),
        ("-survey -author:smith", "at least one word"),
        ("since:2024", "agents since:2024"),
        ("... !!", "letters or digits"),
        ("agents since:2024-13", "since:2024-01-01"),
        ("agents since:yesterday", "since:2024-01-01"),
        ("agents since:1066", "between"),
        ("agents -since:2024", "can't be excluded"),
        ("agents author:", "author:hinton"),
        ('author:"..."', "author:hinton"),
        ("cat:cs.CL!", "cat:cs.CL"),
        ("x" * (MAX_CHARS + 1), f"under {MAX_CHARS}"),
        (" ".join(["w"] * (MAX_TERMS + 1)), f"at most {MAX_TERMS}"),
    ],
)
def test_errors_say_what_to_type(text: str, hint: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("typed", "today", "meant"),
    [
        ("since:today", date(2026, 3, 31), date(2026, 3, 31)),
        ("since:Yesterday", date(2026, 3, 1), date(2026, 2, 28)),
        ("since:7d", date(2026, 3, 31), date(2026, 3, 24)),
        ("since:2weeks", date(2026, 1, 5), date(2025, 12, 22)),
        ("since:1m", date(2026, 3, 31), date(2026, 2, 28)),  # no 31 February: its last day
        ("since:1m", date(2028, 3, 31), date(2028, 2, 29)),
        ("since:3months", date(2026, 1, 15), date(2025, 10, 15)),
        ("since:1y", date(2028, 2, 29), date(2027, 2, 28)),
    ],
)
def test_since_counts_back_from_today_in_a_search(typed: str, today: date, meant: date) -> None:
    assert parse_query(f"agents {typed}", today=today).since == meant


def test_since_counting_back_is_refused_where_today_moves_and_before_the_first_year() -> None:
    with pytest.raises(QueryError, match="give it a date like"):
        parse_query("agents since:2w")  # a topic, matched again tomorrow
    with pytest.raises(QueryError, match="goes back before 1900"):
        parse_query("agents since:500y", today=date(2026, 3, 31))


# -- canonical form and description ------------------------------------------------------------


def test_canonical_form() -> None:
    parsed = parse_query('  author: "Yann  LeCun" OR cat:CS.lg  since:2024 -"a b" “c d')
    assert str(parsed) == 'author:"Yann LeCun" OR cat:cs.LG "c d" -"a b" since:2024-01-01'


def test_describe() -> None:
    parsed = parse_query("diffusion OR flow matching -survey since:2024-02")
    assert parsed.describe() == (
        "papers matching (“diffusion” or “flow”) and “matching”, without “survey”, "
        "published since 1 Feb 2024"
    )


# -- properties --------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "OR", "or", "-", "--", '"', "“", "”", ":", "author:", "author:x", "cat:", "cat:cs.CL",
        "since:", "since:2024", "since:2024-02-30", "a", "b", "ü", "BERT:", "x:y", "...", "  ",
        "-a", '-"', "\t", "\n", "0", "ß", "_", "AUTHOR:Ün", "since:2w", "since:yesterday",
        "since:1m", "cat:cs.VC",
    ]
)  # fmt: skip
QUERY_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(_PIECES, max_size=12).map("".join),
    st.lists(_PIECES, max_size=12).map(" ".join),
)


@settings(max_examples=400, deadline=None)
@given(QUERY_TEXT)
def test_parse_returns_a_query_or_a_friendly_error(text: str) -> None:
    outcome: ParsedQuery | QueryError
    try:
        outcome = parse_query(text, today=date(2026, 3, 31))
    except QueryError as error:
        outcome = error
    if isinstance(outcome, QueryError):
        assert str(outcome)
        return
    # The canonical form says the date "since:2w" meant, so it reads back alike on any day.
    assert parse_query(str(outcome)) == outcome
    assert outcome.describe()
