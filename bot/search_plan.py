"""How a :class:`bot.query.ParsedQuery` becomes Tantivy queries: all the words first, then the
closest matches, and per-query tiers that find the top of a pass without scoring every match.

Free text is matched in one field holding title, abstract and author names, so a query of plain
words is a flat intersection (all words) or union (closest matches) of term queries. Tantivy
could prune a union with block-max WAND, but tantivy-py always collects through a
MultiCollector, which scores every match; the tiers (_Tier) do the pruning per query. Unions
(one word, closest matches) and quoted phrases also score through the title field, where a short
title beats a long one.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import tantivy

from bot.analysis import joined_compounds, normalize_query, other_spellings
from bot.categories import codes_under
from bot.query import EXAMPLES, Author, Category, Clause, ParsedQuery, Phrase, QueryError, Word
from bot.search_schema import STOP_WORDS, Analyzers

TITLE_BOOST = 2.0
# Closest matches (no paper has every word: mostly questions in plain words) score through the
# text field alone. Few titles hold a question's common words ("simple", "model", "light"), so
# in the title field they weigh like rare ones, and a short title made of them outranked the
# paper the question is about: forgiving BM25 alone, plain-language recall@3 0.55 -> 0.72 on
# bench/queries.jsonl, 0.69 -> 0.77 on held-out questions, keyword queries unchanged. Titles
# still count through their copies in the text field.
CLOSEST_TITLE_BOOST = 0.0
# Searching with few possible matches counts them exactly (cheap); above, the total is estimated.
EXACT_COUNT_UP_TO = 20_000
# Closest matches: the most frequent words of a question are left to a tier's optional
# clauses while their BM25 ceilings add up to at most this share of the next word's
# (see Compiler._rare_tier).
COMMON_SHARE_OF_RARE = 0.3
BM25_K1 = 1.2  # Tantivy's BM25 term saturation
# A tier vouches for the top only when its k-th best beats every other match by this factor
# (scores are 32-bit floats).
TIER_MARGIN = 1.001

TotalKind = Literal["exact", "about", "at least"]


@dataclass(frozen=True, slots=True)
class _Scored:
    """Tokens scored together in one field: a term, a phrase (BM25 sums its words' idf) or
    terms all required. What a match of them can score at most follows from their frequency."""

    field: str
    tokens: tuple[str, ...]
    boost: float = 1.0

    def ceiling(self, searcher: tantivy.Searcher, docs: int) -> float:
        # Tantivy's BM25: boost * idf * (K1 + 1) * tf / (tf + norm), below boost * idf * (K1 + 1).
        idf = sum(_idf(searcher.doc_freq(self.field, token), docs) for token in self.tokens)
        return self.boost * idf * (1 + BM25_K1)


@dataclass(frozen=True, slots=True)
class _Tier:
    """The matches of a pass that have its title words (or its rare words), scored exactly as
    the pass scores them, and the most any other match can score. When the tier's k-th best
    beats that, the tier's top k is the pass's top k, found without scoring every match: the
    per-query form of block-max WAND, which tantivy-py's collectors never use."""

    query: tantivy.Query
    outside: tuple[_Scored, ...]
    probe: tantivy.Query  # a term query every tier hit matches (its explanation tells BM25's N)

    def top(self, searcher: tantivy.Searcher, limit: int) -> list[tuple[float, tantivy.DocAddress]]:
        """The pass's top ``limit``, or [] when the tier cannot vouch for it."""
        hits = [
            (float(s), a) for s, a in searcher.search(self.query, limit=limit, count=False).hits
        ]
        if len(hits) < limit:
            return []
        try:
            docs = _bm25_docs(self.probe.explain(searcher, hits[0][1]).to_json())
        except ValueError:  # the probe does not match: nothing to vouch with
            docs = None
        if docs is None:
            return []
        ceiling = sum(part.ceiling(searcher, docs) for part in self.outside)
        return hits if hits[-1][0] > ceiling * TIER_MARGIN else []


@dataclass(frozen=True, slots=True)
class _Size:
    """How many papers a pass can match, from word frequencies: every group is required, and
    matches with any of its alternatives (each needing all of its tokens)."""

    groups: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]
    filtered: bool  # exclusions or a date: only counting says how many are left

    @property
    def phrases(self) -> bool:
        """Whether a group matches through phrases alone, whose matches frequencies do not tell."""
        return any(all(len(tokens) > 1 for _, tokens in group) for group in self.groups)

    def most(self, searcher: tantivy.Searcher) -> int:
        bounds = [
            sum(min(searcher.doc_freq(field, t) for t in tokens) for field, tokens in group)
            for group in self.groups
        ]
        return min(bounds, default=searcher.num_docs)

    def about(self, searcher: tantivy.Searcher) -> int:
        """Papers matching if words occurred independently, to two significant digits."""
        docs = max(searcher.num_docs, 1)
        share = 1.0
        for group in self.groups:
            missed = 1.0
            # Beside single words, a phrase adds few matches: "pre-training" is nearly always
            # also written "pretraining" in the index, and rarely "pre training".
            for field, tokens in [a for a in group if len(a[1]) == 1] or group:
                missed *= 1 - math.prod(searcher.doc_freq(field, t) / docs for t in tokens)
            share *= 1 - missed
        estimate = docs * share
        if estimate < 1:
            return 0
        digits = math.floor(math.log10(estimate)) - 1
        unit: int = 10 ** max(digits, 0)
        return round(estimate / unit) * unit


@dataclass(frozen=True, slots=True)
class _Pass:
    query: tantivy.Query
    size: _Size
    # The pass's cheaper tier, when it has one (the rare-word tier needs word frequencies).
    tier: Callable[[tantivy.Searcher], _Tier | None] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    strict: _Pass  # every word must match (stop words aside)
    loose: _Pass | None  # any word may match; None when there is nothing to forgive
    terms: tuple[str, ...]  # the words that had to match


def common_words_as_phrase(query: ParsedQuery) -> ParsedQuery:
    """What a query of stop words alone asks for: two or more ("on with", "in is by") are the
    phrase they make, one ("the") is nothing to look for (:class:`QueryError`).

    Nearly every paper has each of them, so as plain words they would rank papers at random,
    after scoring nearly every paper (30-40 ms at 1M papers, the slowest searches of
    bench/search.py's mix). As a phrase they mean something, and the pairs field answers it at
    once (-exclusions and since: still apply). A query with any other word, a quoted phrase,
    author: or cat: is returned as it is."""
    words = [c.text for group in query.groups for c in group if isinstance(c, Word)]
    if len(words) != len(query.groups) or not all(map(_lone_stop_word, query.groups)):
        return query
    if len(words) == 1:
        raise QueryError(
            f"“{words[0]}” is in nearly every paper, so it finds nothing in particular. "
            f"Add a word that says what you are looking for, e.g. {EXAMPLES}."
        )
    return ParsedQuery(((Phrase(tuple(words)),),), query.exclude, query.since)


def run_pass(
    searcher: tantivy.Searcher, step: _Pass, limit: int
) -> tuple[list[tuple[float, tantivy.DocAddress]], int, TotalKind]:
    """A pass's best ``limit`` hits, how many papers match, and how that number was found.

    tantivy-py collects with scoring every match (its collectors skip nothing), so a pass is
    as slow as its matches are many: a few hundred thousand at 1M papers for common words. Few
    matches are counted exactly; many are estimated, and their top k comes from the tier."""
    size = step.size
    if size.filtered or size.most(searcher) <= EXACT_COUNT_UP_TO:
        result = searcher.search(step.query, limit=limit, count=True)
        return [(float(s), a) for s, a in result.hits], _count(result), "exact"
    # Word frequencies say little about a phrase's matches: one more hit says there are more.
    wanted = limit + 1 if size.phrases else limit
    tier = step.tier(searcher) if step.tier else None
    hits = tier.top(searcher, wanted) if tier else []
    if not hits:
        hits = _top(searcher, step.query, wanted)
    if len(hits) < wanted:
        return hits, len(hits), "exact"
    if size.phrases:
        return hits[:limit], wanted, "at least"
    return hits, max(size.about(searcher), len(hits)), "about"


def _top(
    searcher: tantivy.Searcher, query: tantivy.Query, limit: int
) -> list[tuple[float, tantivy.DocAddress]]:
    return [(float(s), a) for s, a in searcher.search(query, limit=limit, count=False).hits]


def _idf(doc_freq: int, docs: int) -> float:
    return math.log(1 + (docs - doc_freq + 0.5) / (doc_freq + 0.5))


def _bm25_docs(explanation: str) -> int | None:
    """The document count BM25 used (deleted papers included), from a score's explanation."""
    found = re.search(r'"value":\s*([0-9.eE+]+),\s*"description":\s*"N, total number of docs"',
                      explanation)  # fmt: skip
    return int(float(found.group(1))) if found else None


class Compiler:
    """Turns a ParsedQuery into Tantivy queries, analyzing words like the index does."""

    def __init__(self, schema: tantivy.Schema, analyzers: Analyzers) -> None:
        self._schema = schema
        self._analyzers = analyzers

    def compile(self, query: ParsedQuery) -> tantivy.Query:
        """Every group must match, stop words included: what a topic subscription means."""
        return self._strict(query, query.groups).query

    def constraints(self, query: ParsedQuery) -> tantivy.Query:
        """What ``query`` spells out beyond plain words (phrases, ``author:``, ``cat:``,
        ``since:``, ``-exclusions``), for papers found another way (by their vectors)."""
        parts = [(tantivy.Occur.Must, tantivy.Query.all_query())]
        for group in query.groups:
            if _plain_words(group):
                continue
            matcher = self._group(group)
            if matcher is None:  # a required phrase no paper can contain
                return tantivy.Query.empty_query()
            parts.append((tantivy.Occur.Must, matcher))
        return self._filtered(parts, query)

    def plan(self, query: ParsedQuery) -> Plan:
        """What free-text search runs: all the words first, then any of them."""
        hard = [group for group in query.groups if not _plain_words(group)]
        soft = [group for group in query.groups if _plain_words(group)]
        content = [group for group in soft if not _stop_words(group)] or soft
        terms = tuple(" OR ".join(map(str, group)) for group in content)
        strict = self._strict(query, [*hard, *content])
        forgivable = content and (len(content) > 1 or hard)
        loose = self._loose(query, hard, content) if forgivable else None
        return Plan(strict, loose, terms)

    def _strict(self, query: ParsedQuery, groups: Sequence[tuple[Clause, ...]]) -> _Pass:
        filtered = bool(query.exclude) or query.since is not None
        size = _Size(tuple(self._alternatives(group) for group in groups), filtered)
        if len(groups) == 1 and _plain_words(groups[0]) and not filtered:
            # One group of plain words: a flat union of term queries.
            tokens = self._flat_tokens(groups, require_single_tokens=True)
            if tokens is not None:
                return _Pass(
                    self._union(tokens, TITLE_BOOST), size, _fixed(self._title_tier(tokens))
                )
        parts = []
        phrases = []
        guard = self._guard(groups)
        for group in groups:
            matcher = self._group(group, [q for owner, q in guard if owner is not group])
            if matcher is None:  # a required word no document can contain
                return _Pass(tantivy.Query.empty_query(), size)
            parts.append((tantivy.Occur.Must, matcher))
            for tokens in self._title_phrases(group):
                boost = tantivy.Query.boost_query(self._tokens_query("title", tokens), TITLE_BOOST)
                parts.append((tantivy.Occur.Should, boost))
                phrases.append(tokens)
        tier = None
        if len(phrases) == 1 and query.since is None:
            # Papers with the phrase in their title: the title's copies in the text field and
            # the title boost put them far above any other match, once there are enough of them.
            required = [(tantivy.Occur.Must, q) for _, q in parts]
            outside = tuple(_Scored(f, t) for group in groups for f, t in self._alternatives(group))
            probe = self._term("text", phrases[0][0])
            tier = _Tier(self._filtered(required, query), outside, probe)
        elif not phrases and query.since is None:
            return _Pass(
                self._filtered(parts, query), size, self._joined_tier(query, groups, parts)
            )
        return _Pass(self._filtered(parts, query), size, _fixed(tier))

    def _joined_tier(
        self,
        query: ParsedQuery,
        groups: Sequence[tuple[Clause, ...]],
        parts: list[tuple[tantivy.Occur, tantivy.Query]],
    ) -> Callable[[tantivy.Searcher], _Tier | None] | None:
        """A hyphenated word ("pre-training") matches as a phrase that scores nothing or joined
        ("pretraining"), so the papers with the joined form are the best matches once there are
        enough of them: the pass's phrase positions (every paper with "pre" and "training", 90 ms
        at 1M papers) are then never checked."""
        compounds = []
        for n, group in enumerate(groups):
            if len(group) == 1 and isinstance(group[0], Word):
                split, forms = self.word_tokens(group[0].text)
                if len(split) > 1 and len(forms) == 1:
                    compounds.append((n, forms[0]))
        if len(compounds) != 1:
            return None
        n, joined = compounds[0]
        required = [part for m, part in enumerate(parts) if m != n]
        required.append((tantivy.Occur.Must, self._term("text", joined)))
        others = [a for m, g in enumerate(groups) if m != n for a in self._alternatives(g)]
        outside = tuple(_Scored(field, tokens) for field, tokens in others)
        probe = self._term("text", joined)
        return _fixed(_Tier(self._filtered(required, query), outside, probe))

    def _title_tier(self, tokens: list[str]) -> _Tier | None:
        """One word (or words in OR) that many titles have: papers with it in the title score
        through the title field too, so when enough of them match, they are the top."""
        if TITLE_BOOST <= 0:
            return None
        titles = self._union(tokens, 0.0, field="title", boost=TITLE_BOOST)
        query = _optional(titles, [self._term("text", token) for token in tokens])
        return _Tier(query, tuple(_Scored("text", (t,)) for t in tokens), query)

    def _loose(
        self,
        query: ParsedQuery,
        hard: Sequence[tuple[Clause, ...]],
        soft: Sequence[tuple[Clause, ...]],
    ) -> _Pass:
        """Any plain word may match, scored by BM25 (so more words, or rarer ones, rank higher);
        phrases, authors, categories, exclusions and dates still must. Next to those, the plain
        words only rank: the explicit clauses say what the person wants."""
        filtered = bool(query.exclude) or query.since is not None
        any_alternatives = tuple(a for group in soft for a in self._alternatives(group))
        size = _Size(tuple(self._alternatives(g) for g in hard) or (any_alternatives,), filtered)
        tokens = self._flat_tokens(soft, require_single_tokens=False)
        if tokens is None:
            return _Pass(tantivy.Query.empty_query(), size)
        any_word = self._union(tokens, CLOSEST_TITLE_BOOST)
        if not hard and not filtered:
            return _Pass(any_word, size, lambda searcher: self._rare_tier(tokens, searcher))
        parts = [(tantivy.Occur.Should if hard else tantivy.Occur.Must, any_word)]
        for group in hard:
            matcher = self._group(group)
            if matcher is None:
                return _Pass(tantivy.Query.empty_query(), size)
            parts.append((tantivy.Occur.Must, matcher))
        return _Pass(self._filtered(parts, query), size)

    def _rare_tier(self, tokens: list[str], searcher: tantivy.Searcher) -> _Tier | None:
        """Closest matches with at least one of the rarer words: the most frequent words
        ("use", "the") together score less than a fraction of what one rarer word does, so
        the best closest matches are nearly always papers with a rarer word."""
        docs = max(searcher.num_docs, 1)
        frequency = {token: searcher.doc_freq("text", token) for token in tokens}
        ordered = sorted((t for t in tokens if frequency[t]), key=lambda t: -frequency[t])
        ceilings = [_idf(frequency[t], docs) for t in ordered]
        split = next(
            (n for n in range(len(ordered) - 1, 0, -1)
             if sum(ceilings[:n]) <= COMMON_SHARE_OF_RARE * ceilings[n]),
            0,
        )  # fmt: skip
        common, rare = ordered[:split], ordered[split:]
        # Each paper of the tier also seeks every common word: only worth it when they are few.
        scored = sum(frequency[t] for t in rare) * (1 + len(common))
        if not split or scored > sum(frequency.values()) / 2:
            return None
        boost = CLOSEST_TITLE_BOOST
        optional = [q for t in common for q in self._token_queries(t, boost)]
        outside = [_Scored("text", (t,)) for t in common]
        if boost > 0:
            outside += [_Scored("title", (t,), boost) for t in common]
        query = _optional(self._union(rare, boost), optional)
        return _Tier(query, tuple(outside), query)

    def _filtered(
        self, parts: list[tuple[tantivy.Occur, tantivy.Query]], query: ParsedQuery
    ) -> tantivy.Query:
        """``parts``, published since ``since:``, without the papers of each ``-exclusion``.

        Each thing excluded is left out on its own (``-pre-training``: the phrase, then
        ``pretraining``): Tantivy joins a query's exclusions in one union, which refills 4,096
        papers of each member on every seek, checking a phrase's positions in all of them
        (``a b -task-specific`` took 35 ms at 1M papers, however few papers had a and b)."""
        occur, build = tantivy.Occur, tantivy.Query
        if query.since is not None:
            start = datetime(query.since.year, query.since.month, query.since.day, tzinfo=UTC)
            since = build.range_query(self._schema, "published", tantivy.FieldType.Date, start)
            parts.append((occur.Must, since))
        filtered = build.boolean_query(parts)
        for clause in query.exclude:
            for matcher in self._excluded(clause):
                filtered = build.boolean_query([(occur.Must, filtered), (occur.MustNot, matcher)])
        return filtered

    def _excluded(self, clause: Clause) -> list[tantivy.Query]:
        """What a paper must not have for ``-clause``: any one of these."""
        if isinstance(clause, Word):
            return self._word_forms("text", clause.text)
        matcher = self._clause(clause)
        return [matcher] if matcher else []

    def _flat_tokens(
        self, groups: Sequence[tuple[Clause, ...]], *, require_single_tokens: bool
    ) -> list[str] | None:
        """Every analyzed word of ``groups`` (plain words), or None when there is none (or, with
        ``require_single_tokens``, when a word is a compound or splits in several tokens)."""
        tokens: dict[str, None] = {}
        for group in groups:
            for clause in group:
                assert isinstance(clause, Word)
                split, joined = self.word_tokens(clause.text)
                if require_single_tokens and len(split) > 1:  # a compound needs its phrase
                    return None
                tokens.update(dict.fromkeys([*split, *joined]))
        return list(tokens) or None

    def _union(
        self, tokens: list[str], title_boost: float, *, field: str = "text", boost: float = 1.0
    ) -> tantivy.Query:
        """Each token as a term query in ``field`` (and the title field), all optional."""
        parts = []
        for token in tokens:
            for matcher in self._token_queries(token, title_boost, field=field, boost=boost):
                parts.append((tantivy.Occur.Should, matcher))
        return tantivy.Query.boolean_query(parts)

    def _token_queries(
        self, token: str, title_boost: float, *, field: str = "text", boost: float = 1.0
    ) -> list[tantivy.Query]:
        term = self._term(field, token)
        queries = [term if boost == 1.0 else tantivy.Query.boost_query(term, boost)]
        if title_boost > 0:
            # Still a union of term queries (boosts pass down to them).
            queries.append(tantivy.Query.boost_query(self._term("title", token), title_boost))
        return queries

    def _guard(
        self, groups: Sequence[tuple[Clause, ...]]
    ) -> list[tuple[tuple[Clause, ...], tantivy.Query]]:
        """Required one-word groups as filters that score nothing, each with its group.

        A phrase that is one of several alternatives ("pre-training" as a phrase or as
        "pretraining") sits in a union, and Tantivy advances a union's phrase through every
        paper with its words, checking positions, however few papers the other required words
        leave: at 1M papers, "literary state-of-the-art" took as long as "state of the art"
        alone. Required next to the phrase, a rare word leads, and positions are checked only
        in its papers; scores are unchanged (the filter counts zero, the group needs it anyway).
        """
        guard: list[tuple[tuple[Clause, ...], tantivy.Query]] = []
        for group in groups:
            if len(group) == 1 and isinstance(group[0], Word):
                split, joined = self.word_tokens(group[0].text)
                if len(split) == 1 and not joined:
                    zero = tantivy.Query.boost_query(self._term("text", split[0]), 0.0)
                    guard.append((group, zero))
        return guard

    def _group(
        self, group: tuple[Clause, ...], guard: Sequence[tantivy.Query] = ()
    ) -> tantivy.Query | None:
        union = len(group) > 1
        matchers = [m for m in (self._clause(c, guard, union=union) for c in group) if m]
        if len(matchers) <= 1:
            return matchers[0] if matchers else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, m) for m in matchers])

    def _clause(
        self, clause: Clause, guard: Sequence[tantivy.Query] = (), *, union: bool = False
    ) -> tantivy.Query | None:
        """``guard``: filters (scoring zero) for a phrase that is one of several alternatives
        (``union``: the clause is one of its group's)."""
        if isinstance(clause, Word):
            return self._word("text", clause.text, guard)
        if isinstance(clause, Phrase):
            if pairs := _stop_word_phrase(clause):
                return self._all_terms("pairs", pairs)
            phrase = self._tokens("text", self._phrase_tokens(clause))
            return _guarded(phrase, guard) if union else phrase
        if isinstance(clause, Author):
            return self._tokens("authors", self._analyzers.names.analyze(clause.name))
        assert isinstance(clause, Category)
        codes = self._codes(clause)
        if len(codes) == 1:
            return self._term("categories", codes[0])
        return tantivy.Query.term_set_query(self._schema, "categories", codes)

    def _alternatives(self, group: tuple[Clause, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """What each clause of ``group`` needs, as (field, tokens) like :meth:`_clause` asks:
        a paper matches the group with all tokens of any one of them."""
        found: list[tuple[str, tuple[str, ...]]] = []
        for clause in group:
            if isinstance(clause, Word):
                split, joined = self.word_tokens(clause.text)
                found += [("text", tuple(split))] if split else []
                found += [("text", (token,)) for token in joined]
            elif isinstance(clause, Phrase):
                pairs = _stop_word_phrase(clause)
                field, tokens = ("pairs", pairs) if pairs else ("text", self._phrase_tokens(clause))
                found += [(field, tuple(tokens))] if tokens else []
            elif isinstance(clause, Author):
                found.append(("authors", tuple(self._analyzers.names.analyze(clause.name))))
            else:
                found += [("categories", (code,)) for code in self._codes(clause)]
        return tuple((field, tokens) for field, tokens in found if tokens)

    def _codes(self, clause: Category) -> list[str]:
        """The indexed codes of the papers ``clause`` names (an archive names its categories')."""
        analyze = self._analyzers.codes.analyze
        return [token for code in codes_under(clause.code) for token in analyze(code)]

    def _title_phrases(self, group: tuple[Clause, ...]) -> list[list[str]]:
        """The group's phrases that lift papers with them in the title (plain words count
        through the title's copies in the text field)."""
        phrases = []
        for clause in group:
            if not isinstance(clause, Phrase) or _stop_word_phrase(clause):
                continue
            tokens = self._phrase_tokens(clause)
            if tokens:
                phrases.append(tokens)
        return phrases

    def _word(
        self, field: str, text: str, guard: Sequence[tantivy.Query] = ()
    ) -> tantivy.Query | None:
        """A word in ``field``; ``pre-training`` matches as a phrase or as ``pretraining``.

        The index writes a hyphenated compound joined too, so papers with ``pre-training`` or
        ``pretraining`` are scored by the joined form; the phrase only finds papers that write
        it apart ("pre training") and scores nothing, so the joined form's papers alone can
        vouch for the top (:meth:`_joined_tier`) and no positions are checked to rank them."""
        matchers = self._word_forms(field, text, guard)
        if len(matchers) <= 1:
            return matchers[0] if matchers else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, m) for m in matchers])

    def _word_forms(
        self, field: str, text: str, guard: Sequence[tantivy.Query] = ()
    ) -> list[tantivy.Query]:
        """Each way a paper may hold the word: as written, and joined if it is a compound."""
        split, joined = self.word_tokens(text)
        phrase = self._tokens(field, split)
        if joined and len(split) > 1 and phrase is not None:
            phrase = tantivy.Query.boost_query(_guarded(phrase, guard) or phrase, 0.0)
        return [*([phrase] if phrase else []), *(self._term(field, t) for t in joined)]

    def word_tokens(self, text: str) -> tuple[list[str], list[str]]:
        """A word's tokens as written, and the other forms a paper may write it in, each one
        token: the joined form of a hyphenated compound ("pretraining"), or the word's other
        spelling, British or American ("color" for "colour")."""
        analyze = self._analyzers.text.analyze
        split = analyze(normalize_query(text))
        others = joined_compounds(text) or (other_spellings(text) if len(split) == 1 else ())
        joined = [t for c in others for t in analyze(c) if t not in split]
        return split, joined

    def _phrase_tokens(self, phrase: Phrase) -> list[str]:
        return self._analyzers.text.analyze(normalize_query(" ".join(phrase.words)))

    def _all_terms(self, field: str, tokens: list[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return self._term(field, tokens[0])
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, self._term(field, t)) for t in tokens]
        )

    def _term(self, field: str, token: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, field, token)

    def _tokens(self, field: str, tokens: list[str]) -> tantivy.Query | None:
        if not tokens:
            return None
        return self._tokens_query(field, tokens)

    def _tokens_query(self, field: str, tokens: list[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return self._term(field, tokens[0])
        words: list[str | tuple[int, str]] = [*tokens]
        return tantivy.Query.phrase_query(self._schema, field, words)


def _optional(required: tantivy.Query, optional: Sequence[tantivy.Query]) -> tantivy.Query:
    """``required``, scored with each of ``optional`` it also matches. One optional clause at a
    time: Tantivy seeks a lone term through its skip list, but refills a union of several
    4,096 papers at a time on every seek, which scores nearly all of a common word's papers."""
    for matcher in optional:
        parts = [(tantivy.Occur.Must, required), (tantivy.Occur.Should, matcher)]
        required = tantivy.Query.boolean_query(parts)
    return required


def _guarded(matcher: tantivy.Query | None, guard: Sequence[tantivy.Query]) -> tantivy.Query | None:
    if matcher is None or not guard:
        return matcher
    parts = [(tantivy.Occur.Must, matcher), *((tantivy.Occur.Must, g) for g in guard)]
    return tantivy.Query.boolean_query(parts)


def _fixed(tier: _Tier | None) -> Callable[[tantivy.Searcher], _Tier | None] | None:
    return None if tier is None else lambda _: tier


def _stop_word_phrase(phrase: Phrase) -> list[str]:
    """The pair terms of a phrase made only of stop words ("of the" → ["of_the"]), else []."""
    words = [word.lower() for word in phrase.words]
    if len(words) < 2 or not all(word in STOP_WORDS for word in words):
        return []
    return [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def _plain_words(group: tuple[Clause, ...]) -> bool:
    return all(isinstance(clause, Word) for clause in group)


def _lone_stop_word(group: tuple[Clause, ...]) -> bool:
    return len(group) == 1 and _stop_words(group)


def _stop_words(group: tuple[Clause, ...]) -> bool:
    return all(isinstance(c, Word) and c.text.lower() in STOP_WORDS for c in group)


def _count(result: tantivy.SearchResult) -> int:
    # The type stubs lack SearchResult.count, which search(count=True) fills in.
    count: int = result.count  # type: ignore[attr-defined]
    return count
