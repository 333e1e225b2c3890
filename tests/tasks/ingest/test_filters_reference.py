"""datatrove 0.10.1's own filter unit cases (tests/pipeline/filters/test_filters.py), ported: each document gets
the same keep/drop and the same reason from Quarry's filter as from datatrove's."""

from __future__ import annotations

import pytest

from tasks.ingest.filters import (
    C4Rules,
    DocFilter,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    LanguageFilter,
    TextView,
)
from tasks.ingest.langid import identify

TEXT_LF_1 = (
    "I wish it need not have happened in my time,' said Frodo. 'So do I,' said Gandalf, 'and so do all who live to "
    "see such times. But that is not for them to decide. All we have to decide is what to do with the time that is "
    "given us.'"
)
TEXT_LF_2 = (
    "Un magicien n'est jamais en retard Frodon Sacquet. Pas plus qu'il est en avance. Il arrive précisément "
    "à l'heure prévue."
)
TEXT_LF_3 = (
    "Um mago nunca chega tarde, Frodo Bolseiro. Nem cedo. Ele chega precisamente na hora que pretende."
)
TEXT_LF_4 = (
    "Molti tra i vivi meritano la morte. E parecchi che sono morti avrebbero meritato la vita. Sei forse tu in "
    "grado di dargliela? E allora non essere troppo generoso nel distribuire la morte nei tuoi giudizi: "
    "sappi che nemmeno i più saggi possono vedere tutte le conseguenze."
)


def reason_of(flt: DocFilter, text: str) -> str | None:
    """datatrove's reason string (without Quarry's ``<filter>:`` prefix), None when kept."""
    reason = flt.check(TextView(text, "en"))
    if reason is None:
        return None
    prefix, _, rest = reason.partition(":")
    assert prefix == flt.name
    return rest


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I am your father.\n" * 4, "dup_line_frac"),
        ("I am your father.\n\n" * 4, "dup_para_frac"),
        (
            "I am groot.\n\n" + "You are a wizard.\n\n" + "I am your father.\n\n" + f"{'x' * 30}.\n\n" * 2,
            "dup_para_char_frac",
        ),
        (
            "I am groot.\n" + "You are a wizard.\n" + "I am your father.\n" + f"{'x' * 40}.\n" * 2,
            "dup_line_char_frac",
        ),
        ("I am Frank, I am Frank, I am Frank", "top_2_gram"),
        ("I am Frank, you are Jhon. I am Frank. I am Frank you are Jhon", "top_3_gram"),
        ("I am a solo traveller " * 4 + TEXT_LF_1, "duplicated_5_n_grams"),
    ],
)
def test_gopher_repetition_cases(text: str, reason: str) -> None:
    assert reason_of(GopherRepetition(), text) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I am too small...", "gopher_short_doc"),
        ("I am " * 20, "gopher_below_avg_threshold"),
        ("interconnection " * 20, "gopher_above_avg_threshold"),
        ("# comment " * 20, "gopher_too_many_hashes"),
        ("... comment " * 20, "gopher_too_many_ellipsis"),
        (
            "the ./!*?<><> apple <?////> orange  ++ interconnection !<>??? have" * 20,
            "gopher_below_alpha_threshold",
        ),
        (TEXT_LF_1, None),
    ],
)
def test_gopher_quality_cases(text: str, reason: str | None) -> None:
    assert reason_of(GopherQuality(min_doc_words=10, max_doc_words=1000), text) == reason


def test_language_cases() -> None:
    rule = LanguageFilter(languages=("en", "it"), min_score=0.65, strict=True)  # datatrove's defaults
    for text, kept, language in (
        (TEXT_LF_1, True, "en"),
        (TEXT_LF_2, False, "fr"),
        (TEXT_LF_3, False, "pt"),
        (TEXT_LF_4, True, "it"),
    ):
        found, score = identify(text)
        assert found == language
        assert (rule.check_language(found, score) is None) == kept


C4_GOOD = (
    "This is a well-written paragraph with several sentences.\n"
    "The content continues with more good information here.\n"
    "Another important point is being made in this line.\n"
    "We can see that this document has quality content.\n"
    "Finally, the conclusion wraps everything up nicely.\n"
    "An additional sentence to ensure we pass the threshold."
)


def test_c4_cases() -> None:
    c4 = C4Rules()  # datatrove's C4QualityFilter() defaults
    assert reason_of(c4, C4_GOOD) is None
    lorem = (
        "This is a sentence with lorem ipsum dolor sit amet.\n"
        "Another sentence with proper punctuation.\n"
        "More content to fill out the document.\n"
        "Even more content is needed to pass the check.\n"
        "The final sentence of the document."
    )
    assert reason_of(c4, lorem) == "lorem_ipsum"
    curly = (
        "This is some code with a { bracket.\n"
        "Another sentence follows this one.\n"
        "More content to fill out the document.\n"
        "Even more content is needed to pass.\n"
        "The final sentence of the document."
    )
    assert reason_of(c4, curly) == "curly_bracket"
    assert reason_of(c4, "Just one sentence.") == "too_few_sentences"


def test_c4_removes_policy_lines_from_text() -> None:
    c4 = C4Rules(min_num_sentences=-1, min_words_per_line=-1, remove_lines=True)
    view = TextView("This site uses cookies for tracking.\nAnother valid line here today.", "en")
    reason, new_text = c4.rewrite(view)
    assert reason is None and new_text is not None
    assert "cookies" not in new_text
    assert "cookies" in view.text  # the original version is never changed


def test_fineweb_cases() -> None:
    assert reason_of(FineWebQuality(), "") == "empty"
    text = "No punctuation here\nAnother line without any\nStill nothing"
    assert reason_of(FineWebQuality(line_punct_thr=0.5), text) == "line_punct_ratio"
    fw = FineWebQuality(short_line_thr=0.5, short_line_length=30, line_punct_thr=0.0)
    assert reason_of(fw, "hi.\nbye.\nok.\nno.\nyes.") == "short_line_ratio"
    good = (
        "This is a well-written paragraph that ends with proper punctuation.\n"
        "The content here is substantial and has meaningful information.\n"
        "Quality filtering ensures that only the best documents pass through.\n"
        "Each line here is long enough and ends with a terminal punctuation mark.\n"
        "This document should pass all the quality checks applied by the filter."
    )
    assert reason_of(FineWebQuality(), good) is None
    assert reason_of(FineWebQuality(new_line_ratio=0.1), "\n".join(["a"] * 50)) is not None
