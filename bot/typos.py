"""Reading a mistyped search word as the word papers use: "transfomers" as "transformers".

A word is read as another only when no paper has it, it is no English word either, and one edit
(a letter left out, added, changed, or two neighbours swapped) makes a word papers have; of those,
the one most papers have. The first letter is kept, as Lucene's spell checker does by default:
people rarely mistype it, and allowing it read "morph" as "amorph(ous)".

The English dictionary (pyspellchecker's word frequencies, shipped in its wheel) is what keeps a
real word the papers lack from being "corrected": without it, over the 3,000 bench papers, 21
real words of the bench questions were read as others (military -> militar, cerium -> cesium).
Quoted words are never read as others, so quoting is how to search a word as typed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Protocol

from spellchecker import SpellChecker

from bot.analysis import bare_word
from bot.query import Clause, ParsedQuery, Word
from bot.search_schema import STOP_WORDS

log = logging.getLogger(__name__)

# Shorter words have too many one-edit neighbours ("grid", "grip", "gris"), and are often
# acronyms the papers spell in capitals.
MIN_LENGTH = 5
# Candidates that are no English word are checked against what papers write, best first.
CHECKED_CANDIDATES = 5


class Vocabulary(Protocol):
    """How many papers have a word: what the search index knows of words."""

    def papers_with(self, word: str) -> int:
        """In any form search matches it in (its other spelling, a compound joined)."""
        ...

    def papers_with_stem(self, word: str) -> int:
        """As the analyzer reads it alone: cheap, for the hundreds of one-edit candidates."""
        ...

    def written(self, word: str) -> bool:
        """Whether a paper writes ``word`` as it is: the index holds stems, and a stem that
        papers have ("binar") is also the stem of strings no paper writes ("binariity")."""
        ...


@dataclass(frozen=True, slots=True)
class Reading:
    typed: str
    read_as: str


def read_typos(
    query: ParsedQuery, vocabulary: Vocabulary
) -> tuple[ParsedQuery, tuple[Reading, ...]]:
    """``query`` with each mistyped plain word read as the word papers use, and the readings.
    Phrases, names and categories stay as typed. A word left out (``-atention``) is read too:
    as typed it would leave out nothing."""
    readings: list[Reading] = []

    def read(clause: Clause, *, capital_ok: bool) -> Clause:
        if not isinstance(clause, Word):
            return clause
        read_as = correction(clause.text, vocabulary, capital_ok=capital_ok)
        if read_as is None:
            return clause
        readings.append(Reading(bare_word(clause.text), read_as))
        return Word(read_as)

    titled = _title_case(query)
    # A title's capitals, or a sentence's first (a word alone with a capital is a name).
    first_ok = titled or len(query.groups) > 1
    groups = tuple(
        tuple(read(clause, capital_ok=titled or (n == 0 and first_ok)) for clause in group)
        for n, group in enumerate(query.groups)
    )
    exclude = tuple(read(clause, capital_ok=False) for clause in query.exclude)
    if not readings:
        return query, ()
    return ParsedQuery(groups, exclude, query.since), tuple(readings)


def maybe_mistyped(text: str, vocabulary: Vocabulary, *, capital_ok: bool = False) -> bool:
    """Whether :func:`correction` would look for another reading: cheap (no dictionary).

    Only words of plain letters are, and not names: a capital after the first letter
    (``ResNeXt``, ``LLMs``), or a capital first letter unless ``capital_ok`` (``Bekenstein``,
    read as "Berenstein" before this rule: of the words in half the corpus's abstracts that the
    other half lacks, 12% were read as others then, 3% since; bench/typos.py)."""
    word = bare_word(text)
    plausible = len(word) >= MIN_LENGTH and word.isascii() and word.isalpha()
    named = not word[1:].islower() or (word[:1].isupper() and not capital_ok)
    return plausible and not named and not vocabulary.papers_with(word)


def correction(text: str, vocabulary: Vocabulary, *, capital_ok: bool = False) -> str | None:
    """The word papers use that ``text`` is one typo away from, if ``text`` is a typo
    (``capital_ok``: a capital first letter starts a sentence or is a title's, not a name's)."""
    if not maybe_mistyped(text, vocabulary, capital_ok=capital_ok):
        return None
    typed = bare_word(text)
    word = typed.lower()
    english = _english()
    if word in english:
        return None
    found = [
        (count, english[candidate], candidate)
        for candidate in english.edit_distance_1(word)
        if _same_start(candidate, word) and (count := vocabulary.papers_with_stem(candidate))
    ]
    # The most papers; between forms of one stem ("segmentation", "segmention"), the English one.
    found.sort(key=lambda found: (-found[0], -found[1], found[2]))
    for _, frequency, candidate in found[:CHECKED_CANDIDATES]:
        if frequency or vocabulary.written(candidate):
            return candidate.capitalize() if typed[0].isupper() else candidate
    return None


def plain_words(query: ParsedQuery, *, left_out: bool = True) -> list[str]:
    """The query's words outside quotes, names and categories, as typed (with ``left_out``,
    the words it excludes too)."""
    clauses = [c for group in query.groups for c in group]
    clauses += query.exclude if left_out else ()
    return [c.text for c in clauses if isinstance(c, Word)]


def _title_case(query: ParsedQuery) -> bool:
    """Whether the words are typed as a title is ("Pyramid Vision Transformer"), where capitals
    say nothing of names."""
    typed = plain_words(query, left_out=False)
    words = [w for w in typed if w.lower() not in STOP_WORDS]
    return len(words) > 1 and all(w[:1].isupper() for w in words)


def _same_start(candidate: str, word: str) -> bool:
    """Another word of plain letters with the typed word's first letter (the word list's edits
    also add accents and apostrophes, and give back the word itself)."""
    same = candidate[:1] == word[:1] and candidate != word
    return same and candidate.isascii() and candidate.isalpha()


@functools.cache
def _english() -> SpellChecker:
    log.info("loading the English word list for reading typos")
    return SpellChecker(language="en", distance=1)
