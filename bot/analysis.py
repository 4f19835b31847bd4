"""Text normalisation that Tantivy's token filters cannot do, applied before its analyzer.

Papers and queries both pass through :func:`normalize`, so they meet on the same terms:

- TeX markup: formatting commands (``\\emph``, ``\\mathcal``, ``\\frac``) disappear, Greek letters
  and function names stay as words (``$\\alpha$`` → ``alpha``), accents fold
  (``Schr\\"odinger`` → ``Schrodinger``; Tantivy's ``ascii_fold`` handles ``Schrödinger``).
- Plural acronyms lose their ``s`` (``LLMs`` → ``LLM``, ``CNNs``, ``GPUs``), which the English
  stemmer leaves alone because the stem has no vowel.
- Hyphenated compounds are also written joined (``pre-training`` → ``pretraining``), so both
  spellings meet; the tokenizer already splits the hyphenated form into ``pre`` ``training``.
- British and American spellings (``colour``/``color``, ``optimisation``/``optimization``) meet
  in queries: :func:`other_spellings` gives a typed word's other spelling, searched beside it.
  (The English stemmer already joins ``modelling``/``modeling`` and ``ageing``/``aging``.)

The result remembers where each edit came from, so offsets found in the normalised text (snippet
highlights) map back onto the original text that people see.
"""

from __future__ import annotations

import bisect
import functools
import re
import string
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
# \"o, \'{e}, \H{o}, \c{c} … : the accent goes, the letter stays (ascii_fold would drop it anyway).
# Letter accents (\c, \v …) need a brace or a space, or "\cite" would read as "\c" + "ite".
_TEX = re.compile(
    r"""\\(?:[`'^"~=.]\s*\{?|[uvHcdbkr](?:\s+|\{))(?P<accented>[A-Za-z])\}?"""
    r"|\\(?P<command>[A-Za-z]+)"
)
# Scanning a whole abstract with a complex regex costs more than indexing it, so edits are found
# from cheap anchors instead: a backslash (TeX), a capital and an "s" ending a word (plural
# acronyms), a hyphen (compounds); Python checks the few places found.
_CAPITAL_S = re.compile(r"[A-Z]s\b")
_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
_NOT_SPACE = re.compile(r"\S*")  # \s is what str.split() splits on

# A query word typed in lowercase: "llms", "cnns", "rnns". No vowel before the "s" means it is
# not an English word the stemmer knows how to handle ("bus", "gas" keep their "s").
_LOWER_ACRONYM_PLURAL = re.compile(r"\b(?P<acronym>[b-df-hj-np-tv-xz0-9]{2,7})s\b")
_AFTER_ALL = 1 << 62  # sorts after any real offset in a tuple comparison


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
    found = [*_tex_edits(text), *_acronym_edits(text)]
    compounds = _compounds(text)
    if joined == "inline":
        found += [
            (start, end, f"{text[start:end]} {joined_form}")
            for start, end, joined_form in compounds
        ]
    if not found and (joined != "end" or not compounds):
        return Normalized(text)
    pieces: list[str] = []
    edits: list[tuple[int, int, int, int]] = []
    written = copied = 0
    for start, end, replacement in sorted(found):
        if start < copied:
            continue  # inside an earlier edit ("CNNs-based" is one compound)
        pieces.append(text[copied:start])
        written += start - copied
        pieces.append(replacement)
        edits.append((written, written + len(replacement), start, end))
        written += len(replacement)
        copied = end
    pieces.append(text[copied:])
    if joined == "end" and compounds:
        pieces += ["\n", " ".join(joined_form for _, _, joined_form in compounds)]
    return Normalized("".join(pieces), tuple(edits))


def normalize_query(text: str) -> str:
    """Query words normalised like papers (no joined forms: the caller asks for those), plus
    what only people typing need: "llms" → "llm"."""
    return _LOWER_ACRONYM_PLURAL.sub(r"\g<acronym>", normalize(text, joined="none").text)


def joined_compounds(text: str) -> list[str]:
    """The joined spelling of each hyphenated compound: "pre-training" → "pretraining"."""
    return [joined_form for _, _, joined_form in _compounds(text)]


def _tex_edits(text: str) -> list[tuple[int, int, str]]:
    if "\\" not in text:
        return []
    edits = []
    for match in _TEX.finditer(text):
        if accented := match.group("accented"):
            edits.append((match.start(), match.end(), accented))
        elif match.group("command") not in _KEPT_COMMANDS:
            # A space, so "n\times m" does not become "nm".
            edits.append((match.start(), match.end(), " "))
    return edits


def _acronym_edits(text: str) -> list[tuple[int, int, str]]:
    """Plural acronyms: two or more capitals (digits may follow the first) and a lowercase "s";
    the "s" becomes a space, so later offsets need no shift."""
    edits = []
    for match in _CAPITAL_S.finditer(text):
        end = match.end() - 1  # where the "s" is
        start = end - 1
        while start > 0 and (text[start - 1].isupper() or text[start - 1].isdigit()):
            start -= 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            continue  # "ResNets": not an acronym
        if end - start >= 2 and text[start].isupper():
            # The edit takes in the last capital, so a span ending after it ends after the s.
            edits.append((end - 1, end + 1, text[end - 1] + " "))
    return edits


def _compounds(text: str) -> list[tuple[int, int, str]]:
    """Words joined by hyphens, each part letters or digits (pre-training, GPT-4, k-means):
    their span and their joined form."""
    found: list[tuple[int, int, str]] = []
    end = 0
    # From each hyphen to the spaces around it: a few per abstract, where splitting the whole
    # text into words to look for them cost more than the rest of normalising.
    while (hyphen := text.find("-", end)) >= 0:
        start = hyphen
        while start > end and not text[start - 1].isspace():
            start -= 1
        end = _NOT_SPACE.match(text, hyphen).end()  # type: ignore[union-attr]  # always matches
        for match in _COMPOUND.finditer(text, start, end):
            compound = match.group()
            found.append((match.start(), match.end(), compound.replace("-", "")))
    return found


# -- British and American spellings ---------------------------------------------------------

# Suffixes spelled -ise / -ize (and -yse / -yze) in British English and -ize (-yze) in American.
# The stem must be 3 letters or more, so "rise", "noise", "size" are left alone; a nonsense
# spelling that slips through ("promize") matches no paper and costs one dictionary look-up.
_ISE = re.compile(r"^(\w{3,})i([sz])(e|es|ed|ing|ation|ations|ational|er|ers)$")
_YSE = re.compile(r"^(\w{2,})y([sz])(e|es|ed|ing|er|ers)$")
_OGUE = re.compile(r"^(\w{2,}(?:log|gog))(ue)?(s)?$")
# Stems whose -our is -or in American English (an open rule would turn "four" into "for").
_OUR_STEMS = str.split("""arb ard arm behavi cand clam col endeav fav ferv flav harb hon hum lab
    neighb od parl rig rum sav savi splend tum vap vig""")
_OUR = re.compile(
    rf"^({'|'.join(_OUR_STEMS)})(ou?)r(s|ed|ing|ful|ite|ites|hood|hoods|less|able|ably|al|ally)?$"
)
# Whole words and word beginnings (British first) that no rule above covers.
_WORDS = dict(
    pair.split("/")
    for pair in str.split("""centre/center centres/centers centred/centered fibre/fiber
    fibres/fibers litre/liter litres/liters metre/meter metres/meters theatre/theater
    spectre/specter calibre/caliber defence/defense licence/license offence/offense grey/gray
    aluminium/aluminum programme/program programmes/programs judgement/judgment
    artefact/artifact artefacts/artifacts mould/mold moulds/molds plough/plow tyre/tire
    tyres/tires manoeuvre/maneuver manoeuvres/maneuvers aether/ether aeon/eon aeons/eons
    caesium/cesium diarrhoea/diarrhea""")
)
_PREFIXES = dict(
    pair.split("/")
    for pair in str.split("""sulph/sulf haem/hem anaem/anem aetiol/etiol paed/ped orthopaed/orthoped
    encyclopaed/encycloped palaeo/paleo oesoph/esoph oestr/estr foet/fet oedem/edem leukaem/leukem
    ischaem/ischem gynaec/gynec anaesth/anesth sceptic/skeptic""")
)
_AMERICAN_WORDS = {american: british for british, american in _WORDS.items()}
_AMERICAN_PREFIXES = {american: british for british, american in _PREFIXES.items()}
_PUNCTUATION = string.punctuation + "“”‘’"


def bare_word(word: str) -> str:
    """A typed word without the punctuation around it: "behaviour?" ends a question."""
    return word.strip(_PUNCTUATION)


@functools.lru_cache(maxsize=8192)  # a query's words are looked up once per clause it compiles to
def other_spellings(word: str) -> tuple[str, ...]:
    """The word spelled the other way, British or American: ``colour`` → ``color``,
    ``optimization`` → ``optimisation``, ``haemoglobin`` → ``hemoglobin``; none for most words."""
    word = bare_word(word).lower()
    found = [_WORDS.get(word) or _AMERICAN_WORDS.get(word) or ""]
    if match := _ISE.match(word) or _YSE.match(word):
        stem, letter, suffix = match.groups()
        vowel = "y" if match.re is _YSE else "i"
        found.append(f"{stem}{vowel}{'z' if letter == 's' else 's'}{suffix}")
    if match := _OUR.match(word):
        stem, vowels, suffix = match.groups()
        found.append(f"{stem}{'o' if vowels == 'ou' else 'ou'}r{suffix or ''}")
    if match := _OGUE.match(word):
        stem, ue, plural = match.groups()
        found.append(f"{stem}{'' if ue else 'ue'}{plural or ''}")
    for prefixes in (_PREFIXES, _AMERICAN_PREFIXES):
        found += [other + word[len(p) :] for p, other in prefixes.items() if word.startswith(p)]
    return tuple(spelling for spelling in dict.fromkeys(found) if spelling and spelling != word)
