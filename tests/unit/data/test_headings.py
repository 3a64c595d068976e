"""Heading paths: markdown (ATX, setext, not inside code fences) and reStructuredText section titles."""

from embedtune.data.headings import HeadingPaths, clean_title, heading_marks


def paths_at(text, source, *anchors):
    paths = HeadingPaths(heading_marks(text, source))
    return [paths.at(text.index(anchor)) for anchor in anchors]


def test_markdown_atx_headings_nest_and_siblings_replace_each_other():
    text = "Preamble.\n\n# Guide\n\nA.\n\n## Install\n\nB.\n\n### Linux\n\nC.\n\n## Use ##\n\nD.\n"
    assert paths_at(text, "guide.md", "Preamble", "A.", "B.", "C.", "D.") == [
        "", "Guide", "Guide > Install", "Guide > Install > Linux", "Guide > Use",
    ]


def test_setext_headings_count_and_code_fence_comments_do_not():
    text = (
        "Guide\n=====\n\nIntro.\n\nInstall\n-------\n\nRun:\n\n```bash\n# not a heading\npip install x\n```\n\n"
        "After the fence.\n\n- item\n---\n"
    )
    assert paths_at(text, "README.md", "Intro", "pip install", "After the fence") == [
        "Guide", "Guide > Install", "Guide > Install",
    ]
    assert [title for _, _, title in heading_marks(text, "README.md")] == ["Guide", "Install"]


def test_restructuredtext_titles_take_levels_in_order_of_first_use():
    text = (
        "=====\nGuide\n=====\n\nIntro.\n\nInstall\n-------\n\nSteps.\n\nLinux\n~~~~~\n\nApt.\n\n"
        "Usage\n-----\n\nRun it.\n\nTwo lines of\nparagraph text\n--------------\n\nStill usage.\n"
    )
    assert paths_at(text, "docs/guide.rst", "Intro", "Steps", "Apt", "Run it", "Still usage") == [
        "Guide", "Guide > Install", "Guide > Install > Linux", "Guide > Usage", "Guide > Usage",
    ]


def test_titles_lose_markdown_links_code_emphasis_and_anchors():
    assert clean_title("Use the [`Client`](api.md) **now** {#client}") == "Use the Client now"
    text = "## Use the [`Client`](api.md) {#client}\n\nText."
    assert paths_at(text, "a.md", "Text") == ["Use the Client"]
