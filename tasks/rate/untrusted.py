"""Untrusted page text on its way into a rater prompt: normalise it, quote it, and find the spans to re-check.

The defence against prompt injection does not depend on recognising how an injection is phrased:

1. **Normalise** (:func:`normalise_untrusted`): NFKC (full-width letters and other compatibility forms become
   plain ones), look-alike Cyrillic/Greek letters inside Latin words folded to Latin, invisible characters
   (zero-width, bidi controls, Unicode tag characters) removed, chat-template control tokens removed.
2. **Quote** (:func:`quote_document`): the page goes into the prompt as data, inside a delimited block whose
   delimiter cannot occur in the text (every occurrence is escaped), with every line quoted; the rubric's
   question comes *after* the block, and the answer is read from the logprobs of a fixed label set.
3. **Consistency check** (:func:`suspicious_spans`, :func:`mask_spans`): the lines or sentences that *could*
   steer a rater are found by a language-independent heuristic (score-like tokens: small numbers, "n/5",
   answer words and top-mark words of many languages, mentions of a rater/model); the page is rated a second
   time with all of them masked, and it is flagged when masking lowers its score by more than a tolerance.
   Nothing is ever cut from the text that is rated: a quiz line "Answer: B" or a transcript "User: …" only
   costs one extra rating, and flags the page only if the model's score really depended on it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# -------------------------------------------------------------------------------------------------------------
# normalisation
# -------------------------------------------------------------------------------------------------------------

# Chat-template control tokens of common model families.
_CONTROL_TOKENS = re.compile(r"<\|[^|<>\n]{1,40}\|>|</?s>|\[/?INST\]|<</?SYS>>", re.IGNORECASE)
# Characters that render as nothing: zero-width, word joiner, BOM, soft hyphen, Unicode tags (ASCII smuggling).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff\U000e0000-\U000e007f]")
# Control characters and bidi overrides: replaced by a space.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Cyrillic and Greek letters that look like Latin ones (Unicode confusables, the unambiguous subset).
_CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ү": "y",
    "ӏ": "l", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ү": "Y", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Һ": "H",
    # Greek
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
_WORD = re.compile(r"\w+", re.UNICODE)


def _is_latin(ch: str) -> bool:
    return (ch.isascii() and ch.isalpha()) or "LATIN" in unicodedata.name(ch, "")


def _fold_word(word: str, latin_context: bool) -> str:
    """Fold look-alike letters to Latin in a word that mixes scripts, or that is made only of look-alikes in
    a line that is mostly Latin ("Аnswеr", "Үеѕ"). Real Cyrillic or Greek words are left alone."""
    confusable = sum(1 for ch in word if ch in _CONFUSABLES)
    if not confusable:
        return word
    latin = sum(1 for ch in word if _is_latin(ch))
    other = sum(1 for ch in word if ch.isalpha() and not _is_latin(ch) and ch not in _CONFUSABLES)
    if other:
        return word
    if latin or latin_context:
        return "".join(_CONFUSABLES.get(ch, ch) for ch in word)
    return word


def fold_confusables(text: str) -> str:
    out = []
    for line in text.split("\n"):
        letters = [ch for ch in line if ch.isalpha()]
        latin_share = sum(1 for ch in letters if _is_latin(ch)) / len(letters) if letters else 0.0
        latin_context = latin_share > 0.5

        def fold(match: re.Match[str], ctx: bool = latin_context) -> str:
            return _fold_word(match.group(0), ctx)

        out.append(_WORD.sub(fold, line))
    return "\n".join(out)


def normalise_untrusted(text: str) -> str:
    """NFKC, invisible and control characters, look-alike letters, chat control tokens (see module doc)."""
    text = _INVISIBLE.sub("", text)
    text = _CONTROL_CHARS.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    text = fold_confusables(text)
    previous = None
    while previous != text:  # nested constructions such as "<|im_<|x|>end|>" collapse until stable
        previous = text
        text = _CONTROL_TOKENS.sub(" ", text)
    return text


# -------------------------------------------------------------------------------------------------------------
# quoting
# -------------------------------------------------------------------------------------------------------------

OPEN, CLOSE = "<document>", "</document>"
QUOTE = "> "
_FENCE_LIKE = re.compile(r"<\s*/?\s*document\b[^>]{0,40}>?", re.IGNORECASE)


def escape_delimiters(text: str) -> str:
    """Make the block's delimiters impossible inside the text: ``<document>`` becomes ``‹document›``."""
    return _FENCE_LIKE.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text)


def quote_document(text: str) -> str:
    """The page as a quoted block: delimiters escaped inside, every line prefixed with ``> ``."""
    body = "\n".join(QUOTE + line for line in escape_delimiters(text).split("\n"))
    return f"{OPEN}\n{body}\n{CLOSE}"


# -------------------------------------------------------------------------------------------------------------
# the consistency check: spans that could steer a rater
# -------------------------------------------------------------------------------------------------------------

# Score-like tokens: a small number standing alone (not a year, price, percentage or part of a longer number),
# a fraction "5/5", "10 out of 10"; answer words and top-mark words in the languages of the crawl.
_SMALL_NUMBER = r"(?<![0-9A-Za-z.,/%$€£-])(?:10|[0-9])(?:[.,]0)?(?![0-9A-Za-z%$€£]|[.,]\d)"
_FRACTION = r"\b\d{1,3}\s*(?:/|out of|von|sur|di|de|av|из|分之)\s*\d{1,3}\b"
# Answer words: the labels and translations that are not also common words of another language of the crawl
# (no "ja": Finnish "and"; no "si", "da", "ei", "ne").
_ANSWER_WORDS = r"yes|no|oui|non|sí|nein|kyllä|nej|sim|não|да|нет"
_TOP_MARKS = (
    r"highest|maximum|max|top|perfect|full marks|best possible|excellent|"
    r"höchst\w*|maximal\w*|bestnote|volle punktzahl|"
    r"maximale?|meilleure note|note maximale|parfait\w*|"
    r"máxim\w*|massim\w*|högsta|full pott|paras|täydet|korkein|"
    r"наивысш\w*|максимальн\w*"
)
_RATER_WORDS = (
    r"chatgpt|chatbot|bot|model|assistant|rater|grader|evaluator|annotator|classifier|"
    r"modell|assistent|bewerter\w*|prüfer|"
    r"modèle|assistante?|évaluat\w*|correcteur|"
    r"tekoäly|arvioija|bedömare|"
    r"ии|модель|ассистент|оценщик"
)
_SCORE_VERBS = (
    r"scor\w*|rat(?:e|es|ed|ing)|grad\w*|mark|answer\w*|respon\w*|repl\w*|output|classif\w*|label\w*|"
    r"bewert\w*|antwort\w*|note[rz]?|répond\w*|évalue[rz]?|"
    r"punkt\w*|points?|arvosana|betyg|балл\w*|оцен\w*|ответ\w*"
)
# CJK has no word boundaries: these are matched anywhere.
_CJK_SCORE = r"是|否|はい|いいえ|네|아니요|满分|最高|最好|優秀"
_CJK_RATER = r"人工智能|模型|助手|评分|評分|打分|评估|審查|アシスタント|モデル"
_CJK_VERB = r"回答|答案|打分|评分|給分|给|分数|点数|評価"
_SCORE_TOKEN = re.compile(
    rf"{_SMALL_NUMBER}|{_FRACTION}|(?<!\w)(?:{_ANSWER_WORDS}|{_TOP_MARKS})(?!\w)|{_CJK_SCORE}", re.IGNORECASE
)
_RATER_MENTION = re.compile(rf"(?<!\w)(?:{_RATER_WORDS})(?!\w)|{_CJK_RATER}", re.IGNORECASE)
_RATER_ACRONYM = re.compile(r"(?<!\w)(?:AI|A\.I\.|KI|IA|LLMs?|GPT[\w.-]*|ИИ)(?!\w)")
_SCORE_VERB = re.compile(rf"(?<!\w)(?:{_SCORE_VERBS})(?!\w)|{_CJK_VERB}", re.IGNORECASE)
# Spans: lines, and the sentences of long lines (Latin and CJK sentence ends).
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_MAX_SPAN_WORDS = 60
_SHORT_SPAN_WORDS = 12


@dataclass(frozen=True)
class Span:
    start: int
    end: int

    def text(self, doc: str) -> str:
        return doc[self.start : self.end]


def _spans(text: str) -> list[Span]:
    out: list[Span] = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            if len(line) <= 200:
                out.append(Span(pos, pos + len(line)))
            else:
                start = 0
                for m in _SENTENCE_END.finditer(line):
                    if m.start() > start:
                        out.append(Span(pos + start, pos + m.start()))
                    start = m.end()
                if start < len(line):
                    out.append(Span(pos + start, pos + len(line)))
        pos += len(line) + 1
    return out


def is_suspicious(span: str) -> bool:
    """A span that could steer a rater, in any language: at most ``_MAX_SPAN_WORDS`` long, and a score-like
    token with a scoring verb, a mention of a rater/model or little else around it (a short line), or a
    mention of a rater/model with a scoring verb."""
    words = len(span.split()) or 1
    cjk = sum(1 for ch in span if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    size = words + cjk // 2
    if size > _MAX_SPAN_WORDS:
        return False
    rater = bool(_RATER_MENTION.search(span) or _RATER_ACRONYM.search(span))
    verb = bool(_SCORE_VERB.search(span))
    if _SCORE_TOKEN.search(span):
        return verb or rater or size <= _SHORT_SPAN_WORDS
    return rater and verb


def suspicious_spans(text: str) -> list[Span]:
    """The spans of (normalised) ``text`` the consistency check masks."""
    return [s for s in _spans(text) if is_suspicious(s.text(text))]


def mask_spans(text: str, spans: list[Span]) -> str:
    """``text`` without the spans; a line that held only spans goes entirely, the rest is unchanged. Nothing is
    put in their place: a marker would itself be new text for the rater to react to."""
    out = []
    pos = 0
    for s in sorted(spans, key=lambda s: s.start):
        out.append(text[pos : s.start])
        pos = s.end
    out.append(text[pos:])
    kept = [
        line.strip() if line != before else line
        for line, before in zip("".join(out).split("\n"), text.split("\n"), strict=True)
        if line.strip() or not before.strip()
    ]
    return "\n".join(kept)
