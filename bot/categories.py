"""arXiv's category taxonomy: which codes ``cat:`` may name, what they are called, and the closest
codes to one mistyped.

The codes are arXiv's (https://arxiv.org/category_taxonomy): every category open for submissions,
their aliases (``cs.NA`` for ``math.NA``), and the retired ones older papers still carry
(``astro-ph``, ``cmp-lg``), in ``data/arxiv_categories.json``. A topic naming a code outside it
would never match a paper, so it is refused when typed; when arXiv opens a category, add it there.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources

TAXONOMY_URL = "https://arxiv.org/category_taxonomy"
MAX_SUGGESTIONS = 3
# Below this, difflib's closest codes share little more than their archive ("cs.").
_CUTOFF = 0.75


@cache
def _names() -> dict[str, str]:
    data = resources.files("bot").joinpath("data/arxiv_categories.json").read_text("utf-8")
    names: dict[str, str] = json.loads(data)
    return names


def category_name(code: str) -> str | None:
    """``Computer Vision and Pattern Recognition`` for ``cs.CV``; None for an unknown code."""
    return _names().get(code)


def is_category(code: str) -> bool:
    return code in _names()


def closest_categories(code: str) -> list[str]:
    """The known codes nearest to ``code``: the one with the same subject in another archive
    (``stat.ML`` for ``cs.ML``) or the same letters in another order (``cs.CV`` for ``cs.VC``,
    which difflib alone ranks below ``cs.SC``), else the most alike by difflib, nearest first."""
    folded = code.lower()
    subject = folded.partition(".")[2]

    def nearness(known: str) -> tuple[bool, bool, float]:
        candidate = known.lower()
        alike = difflib.SequenceMatcher(None, folded, candidate).ratio()
        return (
            bool(subject) and candidate.partition(".")[2] == subject,
            sorted(candidate) == sorted(folded),
            alike,
        )

    scored = [(nearness(known), known) for known in _names() if known.lower() != folded]
    near = [(score, known) for score, known in scored if score[0] or score[2] >= _CUTOFF]
    near.sort(key=lambda item: item[0], reverse=True)
    if near and any(near[0][0][:2]):
        return [near[0][1]]  # the same subject or letters: the one meant, no need for others
    return [known for _, known in near[:MAX_SUGGESTIONS]]


def categories_in_archive(archive: str) -> list[str]:
    """The codes under an archive (``cs`` -> ``cs.AI``, ``cs.AR``, …), sorted."""
    prefix = archive.lower() + "."
    return sorted(code for code in _names() if code.lower().startswith(prefix))
