"""arXiv's category taxonomy: which codes ``cat:`` may name, what they are called, which papers'
codes an archive covers, and the closest codes to one mistyped.

The codes are arXiv's (https://arxiv.org/category_taxonomy), in ``data/arxiv_categories.json``:
every category open for submissions, their aliases (``cs.NA`` for ``math.NA``), the retired ones
older papers still carry (``astro-ph``, ``cmp-lg``), and the archives whose categories are named
``<archive>.<subject>`` (``cs``, ``math``, ``astro-ph``). A topic naming a code outside them would
never match a paper, so it is refused when typed; when arXiv opens a category, add it there.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import NamedTuple

TAXONOMY_URL = "https://arxiv.org/category_taxonomy"
MAX_SUGGESTIONS = 3
# Below this, difflib's closest codes share little more than their archive ("cs.").
_CUTOFF = 0.75


class _Taxonomy(NamedTuple):
    archives: dict[str, str]
    categories: dict[str, str]


@cache
def _taxonomy() -> _Taxonomy:
    text = resources.files("bot").joinpath("data/arxiv_categories.json").read_text("utf-8")
    data = json.loads(text)
    return _Taxonomy(data["archives"], data["categories"])


def category_name(code: str) -> str | None:
    """``Computer Vision and Pattern Recognition`` for ``cs.CV``, ``Computer Science`` for ``cs``;
    None for an unknown code."""
    taxonomy = _taxonomy()
    return taxonomy.archives.get(code) or taxonomy.categories.get(code)


def is_category(code: str) -> bool:
    """Whether ``cat:`` may name ``code``: a category or an archive."""
    return category_name(code) is not None


def is_archive(code: str) -> bool:
    return code in _taxonomy().archives


@cache  # asked on every search with cat:, by each of the query planner's passes
def codes_under(code: str) -> tuple[str, ...]:
    """The codes a paper filed under ``code`` carries: an archive's own (``astro-ph``, from before
    it was split) and each of its categories; a category's alone."""
    if not is_archive(code):
        return (code,)
    prefix = code + "."
    return (code, *sorted(known for known in _taxonomy().categories if known.startswith(prefix)))


class _Nearness(NamedTuple):
    """How near a known code is to one typed, compared in this order."""

    same_subject: bool  # stat.ML for cs.ML
    same_letters: bool  # cs.CV for cs.VC, which difflib alone ranks below cs.SC
    alike: float  # difflib's ratio

    @property
    def meant(self) -> bool:
        return self.same_subject or self.same_letters


def closest_categories(code: str) -> list[str]:
    """The known codes nearest to ``code``: the one with the same subject in another archive
    or the same letters in another order, else the most alike by difflib, nearest first."""
    folded = code.lower()
    subject = folded.partition(".")[2]

    def nearness(known: str) -> _Nearness:
        candidate = known.lower()
        return _Nearness(
            same_subject=bool(subject) and candidate.partition(".")[2] == subject,
            same_letters=sorted(candidate) == sorted(folded),
            alike=difflib.SequenceMatcher(None, folded, candidate).ratio(),
        )

    taxonomy = _taxonomy()
    known_codes = dict.fromkeys([*taxonomy.categories, *taxonomy.archives])  # some are both
    scored = [(nearness(known), known) for known in known_codes if known.lower() != folded]
    near = [(score, known) for score, known in scored if score.meant or score.alike >= _CUTOFF]
    near.sort(key=lambda item: item[0], reverse=True)
    if near and near[0][0].meant:
        return [near[0][1]]  # the one meant: no need for others
    return [known for _, known in near[:MAX_SUGGESTIONS]]
