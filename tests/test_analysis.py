"""Normalisation before Tantivy's analyzer: what it changes, and that offsets map back."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.analysis import joined_compounds, normalize, normalize_query, other_spellings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$\\alpha$-divergence", "$\\alpha$-divergence"),  # Greek letters stay words
        ("\\emph{robust} \\mathcal{O}(n)", " {robust}  {O}(n)"),
        ('Schr\\"odinger and Erd\\H{o}s', "Schrodinger and Erdos"),
        ("\\cite{x}", " {x}"),  # a command that starts like an accent (\c) is not one
        ("LLMs, CNNs and GPUs", "LLM , CNN  and GPU "),
        ("Lots of IDs but not Mrs or this", "Lots of ID  but not Mrs or this"),
        ("pre-training and GPT-4", "pre-training and GPT-4\npretraining GPT4"),
    ],
)
def test_what_normalisation_changes(text: str, expected: str) -> None:
    assert normalize(text).text == expected


def test_queries_also_drop_the_plural_of_acronyms_typed_in_lowercase() -> None:
    assert normalize_query("llms cnns gpus bus gas") == "llm cnn gpus bus gas"
    assert normalize_query("pre-training") == "pre-training"  # joined forms are asked for apart


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("colour", "color"), ("behavioural", "behavioral"), ("humor", "humour"),
        ("optimisation", "optimization"), ("tokenizing", "tokenising"), ("analyse", "analyze"),
        ("catalogue", "catalog"), ("analogs", "analogues"), ("centre", "center"),
        ("haemoglobin", "hemoglobin"), ("Sulfur", "sulphur"), ("aluminium", "aluminum"),
    ],
)  # fmt: skip
def test_british_and_american_spellings(word: str, other: str) -> None:
    assert other_spellings(word) == (other,)
    assert other_spellings(other) == (word.lower(),)
    assert other_spellings(f"({word}?") == (other,)


@pytest.mark.parametrize(
    "word", ["four", "hour", "your", "contour", "noise", "size", "rise", "log", "model", "for"]
)
def test_words_spelled_alike_in_both_have_no_other_spelling(word: str) -> None:
    assert other_spellings(word) == ()


def test_inline_compounds_map_back_to_the_compound() -> None:
    source = "see \\emph{pre-training} now"
    analyzed = normalize(source, joined="inline")
    start = analyzed.text.index("pretraining")
    span = analyzed.original_start(start), analyzed.original_end(start + len("pretraining"))
    assert source[span[0] : span[1]] == "pre-training"
    now = analyzed.text.index("now")
    assert source[analyzed.original_start(now) :] == "now"


_TEXT = st.lists(
    st.sampled_from(["LLMs", "\\emph{", "}", "$\\alpha$", "pre-train", '\\"o', "ö", " ", "x", "é"]),
    max_size=20,
).map("".join)


@given(_TEXT, st.data())
def test_offsets_map_in_order_into_the_original(text: str, data: st.DataObject) -> None:
    analyzed = normalize(text, joined="inline")
    offsets = sorted(data.draw(st.lists(st.integers(0, len(analyzed.text)), max_size=6)))
    starts = [analyzed.original_start(offset) for offset in offsets]
    ends = [analyzed.original_end(offset) for offset in offsets]
    assert all(0 <= value <= len(text) for value in starts + ends)
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(start <= end for start, end in zip(starts, ends, strict=True))


def test_compounds_are_found_between_any_kind_of_space() -> None:
    text = "naïve-bayes\u00a0GPT-4\nk-means, a - b, x- and -y"
    assert joined_compounds(text) == ["naïvebayes", "GPT4", "kmeans"]
    assert normalize(text).text.endswith("\nnaïvebayes GPT4 kmeans")


@given(st.text(alphabet="ab-_ é1\u00a0\n\t,."))
def test_each_compound_is_found_in_the_word_that_holds_it(text: str) -> None:
    expected = [
        compound.replace("-", "")
        for word in text.split()
        for compound in re.findall(r"[^\W_]+(?:-[^\W_]+)+", word)
    ]
    assert joined_compounds(text) == expected
