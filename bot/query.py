"""The search language people type after ``/papers search``, parsed into a small AST.

User text never reaches a query parser as-is: it becomes :class:`ParsedQuery`, and the search
index builds engine queries from that structure. ``str(parsed)`` is a canonical form that parses
back to an equal query, so it is safe to store (subscriptions) and to show.

Grammar, informally::

    query   := item*
    item    := ["-"] (word | "phrase" | author:name | author:"first last" | cat:code | since:when)
             | item OR item
    when    := date | today | yesterday | N(d|w|m|y)      (the last three in searches only)
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.categories import TAXONOMY_URL, category_name, closest_categories, is_archive, is_category

MAX_CHARS = 300
MAX_TERMS = 24
# Raw input is only guarded loosely: the real limit is checked on the canonical form, which is
# what gets stored and re-parsed (so a query that was accepted once is always accepted again).
_MAX_RAW_CHARS = 1000
_OR = "OR"
_PREFIXES = ("author", "cat", "since")
# Chat apps turn "straight" quotes into typographic ones as people type.
_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»″", '"'))
_CATEGORY = re.compile(r"[a-z][a-z-]*(?:\.[a-z][a-z-]*)?", re.IGNORECASE)
_SINCE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
# since:yesterday, since:7d, since:2w, since:3m, since:1y (or 3months, 1year, …)
_BACK = re.compile(
    r"(?P<word>today|yesterday)|(?P<count>\d{1,5})(?P<unit>d|days?|w|weeks?|m|months?|y|years?)"
)
# Tantivy stores dates as nanoseconds in an i64; keep well inside that range.
_FIRST_YEAR, _LAST_YEAR = 1900, 2199

EXAMPLES = '`diffusion transformers`, `"flow matching" -survey`, `author:hinton cat:cs.LG`'


class QueryError(ValueError):
    """The query cannot be used; the message tells the person what to type instead."""


@dataclass(frozen=True, slots=True)
class Word:
    text: str

    def __str__(self) -> str:
        return self.text

    def describe(self) -> str:
        return f"“{self.text}”"


@dataclass(frozen=True, slots=True)
class Phrase:
    words: tuple[str, ...]

    def __str__(self) -> str:
        return '"' + " ".join(self.words) + '"'

    def describe(self) -> str:
        return "the phrase “" + " ".join(self.words) + "”"


@dataclass(frozen=True, slots=True)
class Author:
    name: str

    def __str__(self) -> str:
        return f'author:"{self.name}"' if " " in self.name else f"author:{self.name}"

    def describe(self) -> str:
        return f"author “{self.name}”"


@dataclass(frozen=True, slots=True)
class Category:
    code: str

    def __str__(self) -> str:
        return f"cat:{self.code}"

    def describe(self) -> str:
        name = category_name(self.code)
        if is_archive(self.code):
            return f"any category of {self.code} ({name})"
        return f"category {self.code} ({name})" if name else f"category {self.code}"


Clause = Word | Phrase | Author | Category


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """All ``groups`` must match; each group matches when any of its clauses does."""

    groups: tuple[tuple[Clause, ...], ...]
    exclude: tuple[Clause, ...] = ()
    since: date | None = None

    def __str__(self) -> str:
        parts = [" OR ".join(str(clause) for clause in group) for group in self.groups]
        parts += [f"-{clause}" for clause in self.exclude]
        if self.since is not None:
            parts.append(f"since:{self.since.isoformat()}")
        return " ".join(parts)

    def describe(self) -> str:
        """A sentence for people, e.g. in a subscription list or an empty-result message."""
        needs = [_describe_group(group, alone=len(self.groups) == 1) for group in self.groups]
        text = "papers matching " + _and_list(needs)
        if self.exclude:
            text += ", without " + _and_list([clause.describe() for clause in self.exclude])
        if self.since is not None:
            text += f", published since {self.since.day} {self.since:%b %Y}"
        return text

    @property
    def num_terms(self) -> int:
        return sum(len(group) for group in self.groups) + len(self.exclude)


def parse_query(text: str, *, today: date | None = None) -> ParsedQuery:
    """Parse what a person typed. Raises :class:`QueryError` with a friendly message.

    ``today`` lets ``since:`` count back (``since:yesterday``, ``since:2w``) to a date, which
    the canonical form keeps; without it (a topic, saved and matched on later days) only dates
    are accepted."""
    if len(text) > _MAX_RAW_CHARS:
        raise _too_long(len(text))
    parsed = _Parser(_lex(text.translate(_QUOTES)), today).parse()
    if parsed.num_terms > MAX_TERMS:
        raise QueryError(
            f"That query has {parsed.num_terms} terms; use at most {MAX_TERMS}. "
            "Keep the words that matter most."
        )
    if len(str(parsed)) > MAX_CHARS:
        raise _too_long(len(str(parsed)))
    return parsed


# -- lexing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    quoted: bool = False
    negated: bool = False

    @property
    def is_or(self) -> bool:
        return self.text == _OR and not self.quoted and not self.negated


def _lex(text: str) -> list[_Token]:
    """Split on whitespace and quotes. A missing closing quote is assumed at the end."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end == -1 else end
            tokens.append(_Token(text[i + 1 : end], quoted=True, negated=negated))
            i = end + 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] != '"':
            i += 1
        tokens.append(_Token(text[start:i], negated=negated))
    return tokens


# -- parsing ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token], today: date | None) -> None:
        self._tokens = tokens
        self._today = today
        self._pos = 0
        self._groups: list[list[Clause]] = []
        self._exclude: list[Clause] = []
        self._since: date | None = None
        self._dropped = False

    def parse(self) -> ParsedQuery:
        # OR joins the next clause to the previous one, but only when both are positive
        # clauses; a dangling OR (at either end, or next to -x or since:) is ignored.
        can_join = pending_or = False
        while self._pos < len(self._tokens):
            token = self._next()
            if token.is_or:
                pending_or = can_join
                continue
            item = self._item(token)
            if item is None:
                continue
            if isinstance(item, date) or token.negated:
                can_join = pending_or = False
                continue
            if pending_or:
                self._groups[-1].append(item)
            else:
                self._groups.append([item])
            can_join, pending_or = True, False
        return self._finish()

    def _next(self) -> _Token:
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _item(self, token: _Token) -> Clause | date | None:
        """One clause (recorded as an exclusion when negated), a date, or None if dropped."""
        if token.quoted:
            clause: Clause | date | None = _phrase(token.text)
        else:
            # "--x" lexes as an exclusion of "-x"; the extra hyphen means nothing to the index,
            # and keeping it would print as "-x", which reads back differently.
            text = token.text.lstrip("-")
            clause = self._prefixed(text) or _word(text)
        if clause is None:
            self._dropped = True
        elif isinstance(clause, date):
            if token.negated:
                raise QueryError("`since:` can't be excluded. Write e.g. `since:2024-01-01`.")
            self._since = clause if self._since is None else max(self._since, clause)
        elif token.negated:
            self._exclude.append(clause)
        return clause

    def _prefixed(self, text: str) -> Clause | date | None:
        prefix, colon, value = text.partition(":")
        prefix = prefix.lower()
        if not colon or prefix not in _PREFIXES:
            return None  # "BERT: pre-training" and "x:y" stay plain words
        if not value:
            value = self._value_for(prefix)
        if prefix == "author":
            return _author(value)
        if prefix == "cat":
            return _category(value)
        return _since(value, self._today)

    def _value_for(self, prefix: str) -> str:
        """``author: hinton`` and ``author:"first last"`` take the next token as the value."""
        if self._pos < len(self._tokens) and not self._tokens[self._pos].negated:
            return self._next().text
        raise QueryError(f"`{prefix}:` needs a value right after it, e.g. {_PREFIX_HELP[prefix]}.")

    def _finish(self) -> ParsedQuery:
        if not self._groups:
            raise self._nothing_to_match()
        return ParsedQuery(
            groups=tuple(tuple(group) for group in self._groups),
            exclude=tuple(self._exclude),
            since=self._since,
        )

    def _nothing_to_match(self) -> QueryError:
        if self._exclude:
            return QueryError(
                "Add at least one word to look for: a query made only of exclusions "
                "(like `-survey`) would match almost everything. Try e.g. `diffusion -survey`."
            )
        if self._since is not None:
            return QueryError("Add at least one word next to `since:`, e.g. `agents since:2024`.")
        if self._dropped:
            return QueryError(
                f"Your query needs words with letters or digits. Try e.g. {EXAMPLES}."
            )
        return QueryError(f"Type what to search for, e.g. {EXAMPLES}.")


_PREFIX_HELP = {
    "author": '`author:hinton` or `author:"geoffrey hinton"`',
    "cat": "`cat:cs.CL`",
    "since": "`since:2024-01-01`",
}


def _has_text(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def _word(text: str) -> Word | None:
    return Word(text) if _has_text(text) else None


def _phrase(text: str) -> Phrase | None:
    words = tuple(word for word in text.split() if _has_text(word))
    return Phrase(words) if words else None


def _author(value: str) -> Author:
    name = " ".join(value.split())
    if not _has_text(name):
        raise QueryError(f"`author:` needs a name, e.g. {_PREFIX_HELP['author']}.")
    return Author(name)


def _category(value: str) -> Category:
    code = value.strip()
    canonical = _canonical_category(code) if _CATEGORY.fullmatch(code) else None
    if canonical is None or not is_category(canonical):
        raise QueryError(_not_a_category(code, canonical or code))
    return Category(canonical)


def _not_a_category(typed: str, code: str) -> str:
    """Why ``typed`` is refused, with the codes the person most likely meant."""
    problem = f"`cat:{typed}` is not an arXiv category."
    if near := closest_categories(code):
        named = [f"`cat:{known}` ({category_name(known)})" for known in near]
        return f"{problem} Did you mean {_or_list(named)}?"
    return f"{problem} Use one like `cat:cs.CL`, `cat:stat.ML` or `cat:hep-th` ({TAXONOMY_URL})."


def _canonical_category(code: str) -> str:
    """arXiv's own spelling: ``cs.CL``, ``math.AG``, but ``cond-mat.str-el``, ``hep-th``."""
    archive, dot, subject = code.partition(".")
    subject = subject.upper() if len(subject) == 2 else subject.lower()
    return f"{archive.lower()}{dot}{subject}"


def _since(value: str, today: date | None) -> date:
    text = value.strip().lower()
    if back := _BACK.fullmatch(text):
        return _counted_back(value.strip(), back, today)
    match = _SINCE.fullmatch(text)
    problem = (
        "`since:` takes a date like `since:2024-01-01`, `since:2024-01` or `since:2024`, "
        "or, in a search, a time back from today: `since:yesterday`, `since:7d`, `since:2w`, "
        "`since:3m`, `since:1y`."
    )
    if not match:
        raise QueryError(problem)
    year, month, day = (int(part) if part else 1 for part in match.groups())
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise QueryError(f"{problem} The year must be between {_FIRST_YEAR} and {_LAST_YEAR}.")
    try:
        return date(year, month, day)
    except ValueError:
        raise QueryError(f"`since:{value}` is not a real date. {problem}") from None


def _counted_back(typed: str, back: re.Match[str], today: date | None) -> date:
    """``since:3m`` as the date three months before ``today``."""
    if today is None:
        raise QueryError(
            f"`since:{typed}` counts back from today, and a topic is matched on later days: "
            "give it a date like `since:2024-01-01` (its daily picks are new papers anyway)."
        )
    if back["word"]:
        return today - timedelta(days=0 if back["word"] == "today" else 1)
    count, unit = int(back["count"]), back["unit"][0]
    try:
        if unit in "dw":
            start = today - timedelta(days=count * (7 if unit == "w" else 1))
        else:
            start = _months_before(today, count * (12 if unit == "y" else 1))
    except (ValueError, OverflowError):  # before year 1
        start = date.min
    if start.year < _FIRST_YEAR:
        raise QueryError(f"`since:{typed}` goes back before {_FIRST_YEAR}; use a date instead.")
    return start


def _months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier, or that month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))


def _too_long(length: int) -> QueryError:
    return QueryError(
        f"That query is {length} characters long; keep it under {MAX_CHARS}. "
        "A few distinctive words work best."
    )


def _describe_group(group: tuple[Clause, ...], *, alone: bool) -> str:
    text = " or ".join(clause.describe() for clause in group)
    # Parentheses keep "(a or b) and c" from reading as "a or (b and c)".
    return text if alone or len(group) == 1 else f"({text})"


def _and_list(items: list[str]) -> str:
    return _joined(items, "and")


def _or_list(items: list[str]) -> str:
    return _joined(items, "or")


def _joined(items: list[str], last: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]
