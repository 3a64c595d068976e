"""Leaderboard renderings: terminal, markdown and HTML show every row and the pick."""

from __future__ import annotations

import json

from embedtune.reporting.leaderboard import format_leaderboard, to_html


def test_renderings_show_every_row_and_the_pick(leaderboard):
    table = format_leaderboard(leaderboard)
    assert table.count("float32") >= 2 and "Best (quality)" in table and "skipped openai:" in table
    markdown = format_leaderboard(leaderboard, markdown=True)
    assert markdown.splitlines()[0].startswith("| # | model |")
    page = to_html(leaderboard)
    assert page.count("<tr") == len(leaderboard["rows"]) + 1 and "<svg" in page and "Best (quality)" in page
    json.dumps(leaderboard)  # the artifact and --output are plain JSON
