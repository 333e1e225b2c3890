"""Charset handling and payload checks of the HTML extractor."""

from __future__ import annotations

import random
import re

import pytest

from tasks.ingest.extract import (
    ExtractConfig,
    ExtractionError,
    check_textual,
    decode,
    html_to_text,
    normalise_whitespace,
)

CFG = ExtractConfig()
RU = "Пожарная безопасность на предприятии: обучение сотрудников и проверка оборудования."
ZH = "这是一个关于北京历史和文化的长篇文章，介绍了许多名胜古迹。"
JA = "東京は日本の首都であり、多くの人々が住んでいます。歴史的な寺院や神社もたくさんあります。"
DE = "Größere Straßenbäume müssen regelmäßig gepflegt werden, damit sie gesund bleiben."


def _html(text: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>t</title></head><body><article><p>{text}</p><p>{text}</p></article></body></html>"


@pytest.mark.parametrize(
    ("text", "encoding", "http_charset", "meta"),
    [
        (RU, "cp1251", None, '<meta charset="windows-1251">'),
        (ZH, "gbk", "gb2312", ""),
        (JA, "shift_jis", None, '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'),
        (DE, "latin-1", None, ""),
        (DE, "latin-1", "utf-8", ""),  # declared wrongly: falls back to sniffing
        (ZH, "utf-8", None, ""),
    ],
)
def test_odd_charsets_decode_to_the_right_text(
    text: str, encoding: str, http_charset: str | None, meta: str
) -> None:
    payload = _html(text, meta).encode(encoding)
    out = html_to_text(payload, http_charset, CFG)
    assert text in out


def test_decode_prefers_a_valid_declaration() -> None:
    text, used = decode(_html(RU).encode("koi8_r"), "koi8-r")
    assert RU in text and used == "koi8-r"


def test_binary_payloads_labelled_html_are_detected() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    for payload, label, reason in [
        (png, "text/html", "binary_content"),
        (b"GIF89a" + b"\x00" * 100, "text/html", "binary_content"),
        (b"<html>ok</html>", "application/octet-stream", "non_text_content_type"),
    ]:
        with pytest.raises(ExtractionError) as err:
            check_textual(payload, label)
        assert err.value.reason == reason
    check_textual(b"<html>ok</html>", "text/html; charset=utf-8")


def test_huge_page_is_refused_with_a_reason() -> None:
    with pytest.raises(ExtractionError) as err:
        html_to_text(b"<p>x</p>" * 200_000, None, ExtractConfig(max_page_bytes=1_000_000))
    assert err.value.reason == "page_too_large"


def test_mostly_undecodable_text_is_refused() -> None:
    with pytest.raises(ExtractionError) as err:
        html_to_text(("\ufffd" * 500 + "abc").encode("utf-8"), "utf-8", CFG)
    assert err.value.reason == "undecodable"


def test_main_content_drops_navigation() -> None:
    page = (
        "<html><body><nav><ul><li><a href='/'>Home</a></li><li><a href='/x'>Impressum</a></li></ul></nav>"
        f"<article><h1>Title</h1><p>{DE} {DE}</p><p>{DE}</p></article><footer>Impressum | Datenschutz</footer>"
        "</body></html>"
    ).encode()
    out = html_to_text(page, "utf-8", CFG)
    assert DE in out and "Datenschutz" not in out


def _normalise_line_by_line(text: str) -> str:
    """The definition normalise_whitespace implements faster: every line's runs of spaces, tabs and wide spaces
    become one space, lines are stripped, at most one blank line in a row."""
    spaces = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
    lines = [
        spaces.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def test_normalise_whitespace_matches_its_line_by_line_definition() -> None:
    rng = random.Random(7)
    alphabet = [
        "a",
        "b",
        "ü",
        " ",
        "  ",
        "\t",
        "\u00a0",
        "\u2009",
        "\u200b",
        "\u3000",
        "\n",
        "\r\n",
        "\r",
        "\x0c",
    ]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert normalise_whitespace(text) == _normalise_line_by_line(text), repr(text)
    assert normalise_whitespace(" a \u00a0\t b \n\n\n\n c ") == "a b\n\nc"
