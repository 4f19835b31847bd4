"""Text normalisation that Tantivy's token filters cannot do, applied before its analyzer.

Papers and queries both pass through :func:`normalize`, so they meet on the same terms:

- TeX markup: formatting commands (``\\emph``, ``\\mathcal``, ``\\frac``) disappear, Greek letters
  and function names stay as words (``$\\alpha$`` → ``alpha``), accents fold
  (``Schr\\"odinger`` → ``Schrodinger``; Tantivy's ``ascii_fold`` handles ``Schrödinger``).
- Plural acronyms lose their ``s`` (``LLMs`` → ``LLM``, ``CNNs``, ``GPUs``), which the English
  stemmer leaves alone because the stem has no vowel.
- Hyphenated compounds are also written joined (``pre-training`` → ``pretraining``), so both
  spellings meet; the tokenizer already splits the hyphenated form into ``pre`` ``training``.

The result remembers where each edit came from, so offsets found in the normalised text (snippet
highlights) map back onto the original text that people see.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

Joined = Literal["end", "inline", "none"]

# Commands that name something a reader would search for; every other command is formatting
# (``\emph``, ``\textbf``, ``\mathrm``, ``\cite``, ``\frac``, ``\left`` …) and is dropped.
_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega"
)
_KEPT_COMMANDS = frozenset(
    [
        *_GREEK.split(),
        *_GREEK.title().split(),
        *str.split("ell hbar infty partial nabla log exp sin cos tan max min sup inf lim det"),
        *str.split("sum prod int LaTeX TeX"),
    ]
)
_TEX_COMMAND = r"\\(?P<command>[A-Za-z]+)"
# \"o, \'{e}, \H{o}, \c{c} … : the accent goes, the letter stays (ascii_fold would drop it anyway).
# Letter accents (\c, \v …) need a brace or a space, or "\cite" would read as "\c" + "ite".
_TEX_ACCENT = r"""\\(?:[`'^"~=.]\s*\{?|[uvHcdbkr](?:\s+|\{))(?P<accented>[A-Za-z])\}?"""
# An acronym's plural: two or more capitals (digits may follow the first) and a lowercase "s".
_ACRONYM_PLURAL = r"\b(?P<acronym>[A-Z][A-Z0-9]*[A-Z])s\b"
# Words joined by hyphens, each part a run of letters or digits: pre-training, GPT-4, k-means.
_COMPOUND = r"\b(?P<compound>[^\W_]+(?:-[^\W_]+)+)\b"
_EDITS = re.compile("|".join((_TEX_ACCENT, _TEX_COMMAND, _ACRONYM_PLURAL, _COMPOUND)))
# A query word typed in lowercase: "llms", "cnns", "rnns". No vowel before the "s" means it is
# not an English word the stemmer knows how to handle ("bus", "gas" keep their "s").
_AFTER_ALL = 1 << 62  # sorts after any real offset in a tuple comparison
_LOWER_ACRONYM_PLURAL = re.compile(r"\b(?P<acronym>[b-df-hj-np-tv-xz0-9]{2,7})s\b")


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus the edits that produced it, to map offsets back to the original."""

    text: str
    # One entry per edit: (start, end) in ``text`` and (start, end) in the original.
    _edits: tuple[tuple[int, int, int, int], ...] = ()

    def original_start(self, offset: int) -> int:
        """Where a span starting at ``offset`` of ``text`` starts in the original."""
        return self._map(offset, start=True)

    def original_end(self, offset: int) -> int:
        """Where a span ending at ``offset`` of ``text`` ends in the original."""
        return self._map(offset, start=False)

    def _map(self, offset: int, *, start: bool) -> int:
        i = bisect.bisect_right(self._edits, (offset, _AFTER_ALL)) - 1
        if i < 0:
            return offset
        new_start, new_end, old_start, old_end = self._edits[i]
        if offset == new_start:
            return old_start
        if offset < new_end:
            return old_start if start else old_end
        return old_end + (offset - new_end)


def normalize(text: str, *, joined: Joined = "end") -> Normalized:
    """``text`` as the index should analyze it.

    Joined compounds go at the ``"end"`` by default, so the word positions of the original text
    (which phrase queries rely on) stay as they were; ``"inline"`` puts each right after its
    compound instead, for highlighting, where positions do not matter but offsets do; ``"none"``
    leaves them out (phrases in queries, which must line up with the original positions).
    """
    pieces: list[str] = []
    edits: list[tuple[int, int, int, int]] = []
    tail: list[str] = []
    written = copied = 0
    for match in _EDITS.finditer(text):
        replacement = _replacement(match, inline=joined == "inline")
        if replacement is None:
            continue
        if match.group("compound") and joined != "inline":
            if joined == "end":
                tail.append(replacement)
            continue
        between = text[copied : match.start()]
        pieces.append(between)
        written += len(between)
        pieces.append(replacement)
        edits.append((written, written + len(replacement), match.start(), match.end()))
        written += len(replacement)
        copied = match.end()
    if not edits and not tail:
        return Normalized(text)
    pieces.append(text[copied:])
    if tail:
        pieces += ["\n", " ".join(tail)]
    return Normalized("".join(pieces), tuple(edits))


def normalize_query(text: str) -> str:
    """Query words normalised like papers (no joined forms: the caller asks for those), plus
    what only people typing need: "llms" → "llm"."""
    return _LOWER_ACRONYM_PLURAL.sub(r"\g<acronym>", normalize(text, joined="none").text)


def joined_compounds(text: str) -> list[str]:
    """The joined spelling of each hyphenated compound: "pre-training" → "pretraining"."""
    return [
        m.group("compound").replace("-", "") for m in _EDITS.finditer(text) if m.group("compound")
    ]


def _replacement(match: re.Match[str], *, inline: bool) -> str | None:
    if accented := match.group("accented"):
        return accented
    if command := match.group("command"):
        if command in _KEPT_COMMANDS:
            return None
        return " "  # a space, so "n\times m" does not become "nm"
    if acronym := match.group("acronym"):
        return acronym + " "  # same length: later offsets need no shift
    compound = match.group("compound")
    joined = compound.replace("-", "")
    return f"{compound} {joined}" if inline else joined
