"""Word and sentence split of datatrove's English filters, without spaCy.

datatrove 0.10.1 splits English text into words with spaCy's rule-based tokenizer (``spacy.blank("en")``) and
counts C4's sentences with spaCy's ``sentencizer``. This module runs the same algorithm (spaCy's
``Tokenizer._split_affixes`` / ``_attach_tokens``) with spaCy's own regular expressions and special cases
(``reference_data.py``, dumped from spaCy by ``bench/peers/dump_reference_data.py``), so the filters see the same
words. Not reproduced: spaCy's second pass that re-merges special cases spanning several affix tokens (emoticons
such as ``:-)``), rare in web text. ``bench/bench_filters.py`` measures the agreement.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from tasks.ingest.filters.reference_data import (
    SENTENCIZER_PUNCT_CHARS,
    SPACY_EN_INFIX,
    SPACY_EN_PREFIX,
    SPACY_EN_SPECIALS,
    SPACY_EN_SUFFIX,
    SPACY_EN_URL,
)

_prefix_search = re.compile(SPACY_EN_PREFIX).search
_suffix_search = re.compile(SPACY_EN_SUFFIX).search
_infix_finditer = re.compile(SPACY_EN_INFIX).finditer
_url_match = re.compile(SPACY_EN_URL).match
_SPECIALS = SPACY_EN_SPECIALS


def _split_affixes(string: str, prefixes: list[str], suffixes: list[str], specials: bool = True) -> str:
    """spaCy's ``Tokenizer._split_affixes``: peel prefixes and suffixes off ``string``, return the rest."""
    last_size = -1
    while string and len(string) != last_size:
        if specials and string in _SPECIALS:
            break
        last_size = len(string)
        match = _prefix_search(string)
        pre_len = match.end() - match.start() if match else 0
        prefix = minus_pre = ""
        if pre_len:
            prefix = string[:pre_len]
            minus_pre = string[pre_len:]
            if minus_pre and specials and minus_pre in _SPECIALS:
                prefixes.append(prefix)
                return minus_pre
        match = _suffix_search(string[pre_len:])
        suf_len = match.end() - match.start() if match else 0
        suffix = minus_suf = ""
        if suf_len:
            suffix = string[-suf_len:]
            minus_suf = string[:-suf_len]
            if minus_suf and specials and minus_suf in _SPECIALS:
                suffixes.append(suffix)
                return minus_suf
        if pre_len and suf_len and pre_len + suf_len <= len(string):
            string = string[pre_len:-suf_len]
            prefixes.append(prefix)
            suffixes.append(suffix)
        elif pre_len:
            string = minus_pre
            prefixes.append(prefix)
        elif suf_len:
            string = minus_suf
            suffixes.append(suffix)
        if specials and string and string in _SPECIALS:
            break
    return string


def _affix_tokens(chunk: str, specials: bool) -> list[str]:
    """spaCy's ``_tokenize_affixes`` for one whitespace-free chunk (``specials``: apply special cases)."""
    if specials:
        special = _SPECIALS.get(chunk)
        if special is not None:
            return list(special)
    prefixes: list[str] = []
    suffixes: list[str] = []
    rest = _split_affixes(chunk, prefixes, suffixes, specials)
    out = prefixes
    if rest:
        special = _SPECIALS.get(rest) if specials else None
        if special is not None:
            out.extend(special)
        elif _url_match(rest):
            out.append(rest)
        else:
            start = 0
            for match in _infix_finditer(rest):
                infix_start, infix_end = match.start(), match.end()
                if infix_start == 0:
                    continue
                if infix_start != start:
                    out.append(rest[start:infix_start])
                if infix_start != infix_end:
                    out.append(rest[infix_start:infix_end])
                start = infix_end
            if start < len(rest):
                out.append(rest[start:])
    out.extend(reversed(suffixes))
    return out


def _special_spans() -> tuple[dict[tuple[str, ...], tuple[str, ...]], int]:
    """Special cases that affix splitting would cut into several tokens (``:)``, ``Calif.`` after an infix):
    spaCy re-merges such token runs after splitting (its ``_special_matcher``)."""
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, pieces in _SPECIALS.items():
        if not key or any(ch.isspace() for ch in key):
            continue
        split = tuple(_affix_tokens(key, specials=False))
        if len(split) > 1:
            table[split] = pieces
    return table, max((len(k) for k in table), default=1)


_SPECIAL_SPANS, _SPECIAL_SPAN_MAX = _special_spans()


@lru_cache(maxsize=65536)
def _tokenize_chunk(chunk: str) -> tuple[str, ...]:
    """The tokens of one whitespace-free chunk (cached: web text repeats its chunks a lot)."""
    tokens = _affix_tokens(chunk, specials=True)
    if len(tokens) < 2:
        return tuple(tokens)
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        for length in range(min(_SPECIAL_SPAN_MAX, n - i), 1, -1):
            pieces = _SPECIAL_SPANS.get(tuple(tokens[i : i + length]))
            if pieces is not None:
                out.extend(pieces)
                i += length
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)


def split_words(text: str) -> list[str]:
    """datatrove's ``split_into_words(text, "en")``: spaCy tokens, whitespace tokens dropped."""
    words: list[str] = []
    extend = words.extend
    append = words.append
    for chunk in text.split():
        if chunk.isalpha() and chunk not in _SPECIALS:
            append(chunk)
        else:
            extend(_tokenize_chunk(chunk))
    return words


@lru_cache(maxsize=4096)
def _is_punct(token: str) -> bool:
    """spaCy's ``is_punct``: every character is Unicode punctuation (category P*)."""
    return all(unicodedata.category(ch).startswith("P") for ch in token)


_SENTENCE_END = re.compile("[" + re.escape("".join(sorted(SENTENCIZER_PUNCT_CHARS))) + "]")
_CLOSING_PUNCT = re.compile(r"""[.!?'"()\[\]…”’»]+""")


def count_sentences(line: str) -> int:
    """Sentences spaCy's ``sentencizer`` finds in ``line`` (datatrove's ``split_into_sentences``, English).

    A sentence ends at a token that is one of the sentencizer's punctuation marks; the next one starts at the
    first later token that is neither punctuation nor such a mark. Whitespace runs other than a single space are
    tokens of their own in spaCy (and not punctuation), so they can start a sentence too. Only chunks holding a
    sentence mark need splitting into tokens: any other chunk starts a sentence after a mark as soon as it holds
    a character that is not punctuation.
    """
    if not line:
        return 0
    first = _SENTENCE_END.search(line)
    if first is None or _CLOSING_PUNCT.fullmatch(line, first.start()):
        return 1  # no sentence mark, or only punctuation from the first one to the end: one sentence
    count = 1
    seen_period = False
    for match in _SPACED_CHUNK.finditer(line):
        space, chunk = match.group(1), match.group(2)
        if seen_period and space and space != " " and match.start() > 0:
            count += 1  # a whitespace token
            seen_period = False
        if _SENTENCE_END.search(chunk) is None:
            if seen_period and (chunk.isalnum() or not _is_punct(chunk)):
                count += 1
                seen_period = False
            continue
        for token in _tokenize_chunk(chunk):
            in_punct_chars = token in SENTENCIZER_PUNCT_CHARS
            if seen_period and not in_punct_chars and not _is_punct(token):
                count += 1
                seen_period = False
            elif in_punct_chars:
                seen_period = True
    return count


_SPACED_CHUNK = re.compile(r"(\s*)(\S+)")


_WHITESPACE_RUN = re.compile(r"\s+")


def _tokens_with_whitespace(text: str) -> list[str]:
    """spaCy's tokens including whitespace tokens: a single space after a token is absorbed, other runs
    (two spaces, tabs, a leading space) become a token (spaCy keeps one space as the token's trailing space)."""
    out: list[str] = []
    pos = 0
    for match in _WHITESPACE_RUN.finditer(text):
        start, end = match.span()
        if start > pos:
            out.extend(_tokenize_chunk(text[pos:start]))
            ws = text[start:end]
            if ws != " ":
                out.append(ws[1:] if ws[0] == " " else ws)
        else:
            out.append(text[start:end])
        pos = end
    if pos < len(text):
        out.extend(_tokenize_chunk(text[pos:]))
    return out
