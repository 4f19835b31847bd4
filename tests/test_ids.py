from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ids import find_paper_links, parse_paper_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2401.01234", ("2401.01234", None)),
        ("2401.01234v3", ("2401.01234", 3)),
        ("arXiv:2401.01234", ("2401.01234", None)),
        ("https://arxiv.org/abs/2401.01234v2", ("2401.01234", 2)),
        ("https://arxiv.org/pdf/2401.01234v2.pdf", ("2401.01234", 2)),
        ("https://export.arxiv.org/abs/1706.03762", ("1706.03762", None)),
        ("https://huggingface.co/papers/2401.01234", ("2401.01234", None)),
        ("https://www.alphaxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("<https://arxiv.org/abs/2401.01234>", ("2401.01234", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("http://arxiv.org/abs/astro-ph/0601001v1", ("astro-ph/0601001", 1)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("sample-007", ("sample-007", None)),
    ],
)
def test_ids_and_links_become_canonical_ids(text: str, expected: tuple[str, int | None]) -> None:
    ref = parse_paper_ref(text)
    assert ref is not None
    assert (ref.id, ref.version) == expected


@pytest.mark.parametrize(
    "text", ["", "hello", "2401.1", "https://example.com/abs/2401.01234", "12345"]
)
def test_things_that_are_not_papers_are_not_recognised(text: str) -> None:
    assert parse_paper_ref(text) is None


def test_links_in_a_message_are_found_once_each_in_order() -> None:
    message = (
        "two takes: <https://arxiv.org/abs/2401.01234v2> and "
        "https://huggingface.co/papers/2401.01234, "
        "plus https://arxiv.org/pdf/1706.03762 and https://github.com/x/y"
    )
    assert [ref.id for ref in find_paper_links(message)] == ["2401.01234", "1706.03762"]


@given(st.text())
def test_any_text_is_parsed_or_rejected_without_error(text: str) -> None:
    parse_paper_ref(text)
    find_paper_links(text)
