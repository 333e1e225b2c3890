"""Blocks: the lines of Resiliparse's ``minimal_html`` output, each with its tag and link-text length, and
the plain-text rendering of the blocks that survive."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass

_LINE_TAG = re.compile(r"^\s*<(h[1-6]|li|p|pre|ul|ol|/ul|/ol)\b")
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_PRE_OPEN = re.compile(r"<pre\b")
_PRE_CLOSE = re.compile(r"</pre>")
_WS = re.compile(r"\s+")


@dataclass
class Block:
    """One line of the extract: ``kind`` is its leading tag (``h1``-``h6``, ``li``, ``p``, ``pre`` or '')."""

    kind: str
    text: str
    link_chars: int
    list_depth: int = 0
    ordered: bool = False

    @property
    def link_density(self) -> float:
        return self.link_chars / len(self.text) if self.text else 0.0

    @property
    def heading(self) -> bool:
        return self.kind.startswith("h")


def parse_blocks(markup: str) -> list[Block]:
    """Blocks of Resiliparse's ``preserve_formatting='minimal_html', links=True`` output, one per line."""
    blocks: list[Block] = []
    depth = 0
    ordered: list[bool] = []
    in_pre = False
    for line in markup.split("\n"):
        if in_pre:
            in_pre = _PRE_CLOSE.search(line) is None
            text = htmllib.unescape(_TAG.sub("", line))
            if text.strip():
                blocks.append(Block("pre", text.rstrip(), 0))
            continue
        match = _LINE_TAG.match(line)
        kind = match.group(1) if match else ""
        if kind in ("ul", "ol"):
            depth += 1
            ordered.append(kind == "ol")
            continue
        if kind in ("/ul", "/ol"):
            depth = max(0, depth - 1)
            if ordered:
                ordered.pop()
            continue
        if kind == "pre":
            in_pre = _PRE_CLOSE.search(line) is None
        if "<" in line:
            links = (
                sum(len(_WS.sub(" ", _strip(x)).strip()) for x in _LINK.findall(line)) if "<a" in line else 0
            )
            text = _strip(line)
        else:
            links = 0
            text = htmllib.unescape(line) if "&" in line else line
        text = text.strip() if kind != "pre" else text.rstrip()
        if text:
            blocks.append(Block(kind, text, links, depth, bool(ordered and ordered[-1])))
    return blocks


def _strip(markup: str) -> str:
    text = _TAG.sub("", markup)
    return htmllib.unescape(text) if "&" in text else text


def render(blocks: list[Block]) -> str:
    """Plain text in the layout of Resiliparse's ``preserve_formatting=True`` output."""
    out: list[str] = []
    previous = ""
    counters: dict[int, int] = {}
    for block in blocks:
        if block.kind == "li":
            indent = "  " * block.list_depth
            if block.ordered:
                counters[block.list_depth] = counters.get(block.list_depth, 0) + 1
                out.append(f"{indent}{counters[block.list_depth]}. {block.text}")
            else:
                out.append(f"{indent}• {block.text}")
        else:
            counters.clear()
            if out and (block.kind != "" or previous != ""):
                out.append("")
            out.append(block.text)
        previous = block.kind
    return "\n".join(out)
