"""Heading paths: the section headings in force at a place in a document, outermost first.

`heading_marks` finds a document's headings in its text: markdown ATX (`## Install`) and setext (a line
underlined with `===` or `---`) headings outside code fences, and for `.rst` sources reStructuredText
section titles (underlined, optionally overlined, with a punctuation character; levels in order of first
use, as docutils assigns them). HTML pages reach chunking with their `<h1>`-`<h6>` already written as ATX
headings (`embedtune.data.ingest`), so they need nothing here. `HeadingPaths` answers "which headings are in
force at character `offset`?" as `'Training > Large models > LoRA'` (a deeper heading replaces its siblings;
"" before the first heading).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

SEPARATOR = " > "

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SETEXT = re.compile(r"^ {0,3}(={3,}|-{3,})[ \t]*$")
_NOT_A_TITLE = re.compile(r"^ {0,3}([-*+>|]|\d+[.)]|```|~~~|#)|^( {4,}|\t)")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ANCHOR = re.compile(r"[ \t]*\{#[^}]*\}[ \t]*$")


def clean_title(text: str) -> str:
    """A heading's words without markdown: links become their text; code ticks, emphasis and `{#anchor}` go."""
    text = _ANCHOR.sub("", _LINK.sub(r"\1", text))
    text = re.sub(r"(\*\*|__|\*|`)", "", text)
    return " ".join(text.split())


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset of the line's first character, the line without its newline)."""
    lines, offset = [], 0
    for line in text.splitlines(keepends=True):
        lines.append((offset, line.rstrip("\r\n")))
        offset += len(line)
    return lines


def _markdown_marks(text: str) -> list[tuple[int, int, str]]:
    marks: list[tuple[int, int, str]] = []
    lines = _lines(text)
    in_fence = False
    for index, (offset, line) in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        atx = _ATX.match(line)
        if atx and clean_title(atx.group(2)):
            marks.append((offset, len(atx.group(1)), clean_title(atx.group(2))))
            continue
        underline = _SETEXT.match(line)
        if underline and index > 0:
            title_offset, title = lines[index - 1]
            before = lines[index - 2][1] if index > 1 else ""
            if title.strip() and not before.strip() and not _NOT_A_TITLE.match(title) and clean_title(title):
                marks.append((title_offset, 1 if underline.group(1)[0] == "=" else 2, clean_title(title)))
    return marks


def _rst_marks(text: str) -> list[tuple[int, int, str]]:
    marks: list[tuple[int, int, str]] = []
    styles: list[tuple[str, bool]] = []  # (character, overlined) in order of first use: level = index + 1
    lines = _lines(text)
    for index in range(1, len(lines)):
        underline = _RST_ADORNMENT.match(lines[index][1])
        title_offset, title = lines[index - 1]
        if not underline or not title.strip() or title[0].isspace() or _RST_ADORNMENT.match(title):
            continue
        if len(lines[index][1].rstrip()) < len(title.rstrip()):
            continue  # docutils requires the underline to be at least as long as the title
        over = index > 1 and lines[index - 2][1].rstrip() == lines[index][1].rstrip()
        if not over and index > 1 and lines[index - 2][1].strip():
            continue  # the last line of a paragraph, not a title
        style = (underline.group(1), over)
        if style not in styles:
            styles.append(style)
        marks.append((lines[index - 2][0] if over else title_offset, styles.index(style) + 1, clean_title(title)))
    return marks


def heading_marks(text: str, source: str = "") -> list[tuple[int, int, str]]:
    """(character offset where the heading starts, level from 1, title) of each heading, in document order.

    `source` picks the syntax: a path ending in `.rst` is read as reStructuredText, anything else as
    markdown (plain text and PDF text rarely hold lines that look like markdown headings)."""
    if source.lower().split("#", 1)[0].endswith(".rst"):
        return _rst_marks(text)
    return _markdown_marks(text)


class HeadingPaths:
    """The heading path in force at any character offset of one document."""

    def __init__(self, marks: Sequence[tuple[int, int, str]]):
        self._offsets: list[int] = []
        self._paths: list[str] = []
        stack: list[tuple[int, str]] = []
        for offset, level, title in marks:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            self._offsets.append(offset)
            self._paths.append(SEPARATOR.join(title for _, title in stack))

    def at(self, offset: int) -> str:
        """'Outer > Inner': the headings that start at or before `offset`, each the latest of its level."""
        index = bisect.bisect_right(self._offsets, offset) - 1
        return self._paths[index] if index >= 0 else ""
