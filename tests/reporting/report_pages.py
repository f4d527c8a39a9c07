"""Reading a built report page in tests: its text and its JSON data elements."""

from __future__ import annotations

import html
import json
import re


def page_text(page: str) -> str:
    """The page as plain text: no images, scripts or tags, entities decoded, spaces collapsed."""
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "IMG", page)
    page = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def page_json(page: str, element_id: str):
    """The JSON data element ``element_id`` of a report page."""
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert m is not None, element_id
    return json.loads(m.group(1))
