"""HTML building blocks of the report: one self-contained page (inline CSS, no external files)."""

from __future__ import annotations

import html
from typing import Any

from siamese.reporting._scripts import SCRIPTS_JS

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
header{background:#263238;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px 0;font-size:22px}header p{margin:0;color:#cfd8dc;font-size:13px}
nav{background:#37474f;padding:6px 32px}nav a{color:#eceff1;margin-right:18px;font-size:13px;
text-decoration:none}nav a:hover{text-decoration:underline}
main{padding:8px 32px 40px 32px;max-width:1280px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px 20px;margin:18px 0}
h2{font-size:18px;margin:6px 0 10px 0;border-bottom:2px solid #eceff1;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px 0}
th,td{border:1px solid #e0e0e0;padding:3px 9px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.grid>div{flex:0 1 auto}
figure{margin:6px 0}figcaption{font-size:12px;color:#555;max-width:620px}
img{max-width:100%}
.note{background:#fff8e1;border-left:4px solid #ffb300;padding:6px 10px;font-size:13px;margin:8px 0}
.warn{background:#ffebee;border-left:4px solid #d62728;padding:6px 10px;font-size:13px;margin:8px 0}
.kv td:first-child{color:#555;white-space:nowrap}
.pairs{display:flex;flex-wrap:wrap;gap:10px}
.pair{border:1px solid #e0e0e0;border-radius:4px;padding:6px;font-size:12px;background:#fcfcfc}
.pair .items{display:flex;gap:6px;align-items:center}.pair .items img{border:1px solid #ddd}
.pair .cap{margin-top:3px;max-width:340px;overflow-wrap:anywhere}
.episode{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start;border-left:4px solid #2ca02c;padding:6px;margin:8px 0;background:#fcfcfc}
.episode.wrong{border-left-color:#d62728}.episode figure{margin:0;font-size:11px;text-align:center}
.episode .support{display:flex;flex-wrap:wrap;gap:6px}.episode figure.pred img{outline:3px solid #555}
.episode p{flex-basis:100%;margin:2px 0;font-size:12px}
.slider{display:flex;align-items:center;gap:10px;font-size:13px;margin:6px 0}
.slider input{width:380px}
.big{font-size:20px;font-weight:600}
.metrics{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 12px 0}
.metrics div{border:1px solid #e0e0e0;border-radius:4px;padding:6px 12px;min-width:120px;background:#fcfcfc}
.metrics span{display:block;font-size:12px;color:#555}
.tip{position:absolute;z-index:10;background:#fff;border:1px solid #90a4ae;border-radius:4px;
padding:6px 8px;font-size:12px;box-shadow:0 2px 6px rgba(0,0,0,.25);pointer-events:none;max-width:420px}
.tip .src{color:#666;font-size:11px;overflow-wrap:anywhere}.tip img{image-rendering:pixelated;width:96px}
.tip table{margin:2px 0;font-size:11px}
.view3d canvas{border:1px solid #e0e0e0;background:#fff;cursor:grab;max-width:100%}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;max-width:760px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
.small{font-size:12px;color:#555;max-width:760px}
"""


def esc(value: Any) -> str:
    """Text made safe for HTML."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A number as the report prints it (floats with ``digits`` decimals; None as a dash)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.3g}"  # learning rates, tiny distances: keep 3 significant digits
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]], *, cls: str = "") -> str:
    """A table; numbers are formatted with ``fmt`` and right-aligned, text is escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for v in row:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f'<td class="num">{fmt(v)}</td>' if num else f"<td>{esc(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><tr>{head}</tr>{''.join(body)}</table>"


def key_values(rows: list[tuple[str, Any]]) -> str:
    """A two-column table of settings (values as written: ``0.2``, not ``0.2000``)."""

    def text(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:g}"
        return fmt(v)

    return table(["setting", "value"], [[k, text(v)] for k, v in rows], cls="kv")


def metric_tiles(rows: list[tuple[str, Any]]) -> str:
    """Headline numbers as tiles."""
    tiles = "".join(
        f'<div><span>{esc(k)}</span><b class="big">{esc(fmt(v))}</b></div>' for k, v in rows
    )
    return f'<div class="metrics">{tiles}</div>'


def image(uri: str, alt: str, caption: str = "") -> str:
    """An embedded figure with alt text and an optional caption."""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{esc(alt)}">{cap}</figure>'


def note(text: str, *, warn: bool = False) -> str:
    return f'<div class="{"warn" if warn else "note"}">{esc(text)}</div>'


def slider(
    group: str,
    frames: list[tuple[str, str]],
    alt: str,
    start: int | None = None,
    pixels: str | None = None,
) -> str:
    """Frames ``(label, png uri)`` behind a range slider; frame ``start`` shows first (default:
    the last).

    Without JavaScript the ``start`` frame stays visible. ``pixels`` names the JSON element
    that places the points of each frame, for the hover previews (``hover_attributes``).
    """
    last = len(frames) - 1
    start = last if start is None else max(0, min(int(start), last))
    imgs = "".join(
        f'<img data-group="{group}" data-label="{esc(label)}" src="{uri}" alt="{esc(alt)}: '
        f'{esc(label)}"{hover_attributes(pixels, i)}{"" if i == start else " hidden"}>'
        for i, (label, uri) in enumerate(frames)
    )
    control = (
        f'<div class="slider"><label for="{group}-range">frame</label>'
        f'<input type="range" id="{group}-range" min="0" max="{last}" value="{start}" '
        f"oninput=\"siameseFrame('{group}', +this.value)\">"
        f'<span id="{group}-label">{esc(frames[start][0])}</span></div>'
    )
    return control + f"<div>{imgs}</div>"


def hover_attributes(pixels: str | None, frame: int = 0) -> str:
    """Attributes that give an image hover previews: ``pixels`` is the id of a JSON element
    holding, per frame, the point sets ``{"h": items element id, "l": label, "xy": [x, y, ...]}``
    (pixel positions in the PNG)."""
    if pixels is None:
        return ""
    return f' data-pixels="{esc(pixels)}" data-frame="{int(frame)}"'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document: header, a link bar to each section, the sections.

    Args:
        sections: ``(anchor, title, body html)`` in order.
    """
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{esc(title)}</title>'
        f"<style>{CSS}</style><script>{SCRIPTS_JS}</script></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>\n"
    )
