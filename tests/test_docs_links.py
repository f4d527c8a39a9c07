"""Every relative link in README.md, BENCHMARKS.md and docs/**/*.md points at a file of the repo.

The markdown is parsed with markdown-it-py (installed with rich), so code spans and fenced code
blocks hold no links and reference links count. No network: links with a scheme (https:,
mailto:) and in-page anchors are not followed.
"""

import re
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# GitHub-flavoured enough for links: CommonMark (code spans, fences, reference links) plus tables.
_PARSER = MarkdownIt("commonmark").enable("table")


def markdown_files(root: Path) -> list[Path]:
    """README.md, BENCHMARKS.md and every .md under docs/ (the pages a reader follows)."""
    files = [root / "README.md", root / "BENCHMARKS.md"]
    return files + sorted((root / "docs").rglob("*.md"))


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of each markdown link and image in `path`, as a renderer sees them."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = []
    for block in _PARSER.parse(text):
        if block.type != "inline" or block.map is None:
            continue
        first, last = block.map
        for token in block.children or []:
            if token.type not in ("link_open", "image"):
                continue
            target = unquote(str(token.attrs["href" if token.type == "link_open" else "src"]))
            # the line that spells the target; a reference link's definition is elsewhere
            number = next((n + 1 for n in range(first, last) if target in lines[n]), first + 1)
            found.append((number, target))
    return found


def broken_links(path: Path, root: Path) -> list[str]:
    """'file:line: target (why)' for each relative link that does not resolve inside `root`."""
    broken = []
    for number, target in links(path):
        if _SCHEME.match(target) or target.startswith("#"):
            continue
        relative = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (path.parent / relative).resolve()
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not resolved.is_relative_to(root.resolve()):
            broken.append(f"{where} (points outside the repository)")
        elif not resolved.exists():
            broken.append(f"{where} (no such file: {resolved.relative_to(root.resolve())})")
    return broken


def test_every_relative_link_resolves():
    broken = [b for path in markdown_files(ROOT) for b in broken_links(path, ROOT)]
    assert not broken, "broken links (fix the target or the file name):\n" + "\n".join(broken)


def test_the_check_finds_a_broken_link_and_skips_code_and_urls(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("x\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "[ok](real.md#part) [web](https://example.org/x.md) [anchor](#top)\n"
        "`[in code](missing_in_code.md)`\n"
        "```\n[in a fence](missing_in_fence.md)\n```\n"
        "see [the gone page](gone.md) and ![a picture](../up.png)\n"
        "\n| table | [cell](cell%20gone.md) |\n|---|---|\n\n"
        "and [the outside][out]\n\n[out]: ../../outside.md\n"
    )
    broken = broken_links(page, tmp_path)
    assert broken == [
        "docs/page.md:6: gone.md (no such file: docs/gone.md)",
        "docs/page.md:6: ../up.png (no such file: up.png)",
        "docs/page.md:8: cell gone.md (no such file: docs/cell gone.md)",
        "docs/page.md:11: ../../outside.md (points outside the repository)",
    ]


def test_benchmarks_page_is_the_summary_and_links_every_details_page():
    page = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert page.startswith(
        "<!-- details go in docs/benchmarks/; this page is the summary table only -->"
    )
    header = "| figure | target | anchor | measured | met? | command | date | details |"
    assert header in page.splitlines()
    details = sorted((ROOT / "docs" / "benchmarks").glob("*.md"))
    assert details, "docs/benchmarks/ holds no pages"
    targets = {target for _, target in links(ROOT / "BENCHMARKS.md")}
    for detail in details:
        assert f"docs/benchmarks/{detail.name}" in targets, (
            f"BENCHMARKS.md does not link {detail.name}"
        )
        back = {target for _, target in links(detail)}
        assert "../../BENCHMARKS.md" in back, (
            f"docs/benchmarks/{detail.name} does not link back to BENCHMARKS.md"
        )


def test_readme_links_the_benchmarks_page():
    targets = {target for _, target in links(ROOT / "README.md")}
    assert "BENCHMARKS.md" in targets
