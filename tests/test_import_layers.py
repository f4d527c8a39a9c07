"""The import graph of ``siamese``: no circles between packages, and no import that climbs a layer.

The layers are DESIGN.md's, from the bottom up; a module may import its own layer and the layers
below it, never one above (the pipeline combines training, evaluation and reporting; training
knows nothing of them). Every import counts: those inside functions (a lazy import hides a circle
from Python but not from the design) and those under ``if TYPE_CHECKING:`` (an annotation that
names a module above, or one that imports this one, is the same dependency written down).

Evaluation's metrics sit below training (the trainer validates with them); evaluating a run
folder again is a pipeline flow (``siamese.pipeline.evaluate_run``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import siamese

SRC = Path(siamese.__file__).parent

# Bottom to top. Top-level modules are layers of their own (model.py sits on encoders/objectives).
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_io", "_range", "_read", "seed"),
    ("data",),
    ("sampling", "encoders", "objectives"),
    ("mining",),
    ("model",),
    ("weights",),  # importers of pretrained weights into model folders
    ("evaluation",),
    ("training",),
    ("gallery", "export", "compress", "recipes"),
    ("reporting",),
    ("pipeline",),
    ("service",),
    ("cli", "__main__"),
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _unit(module: str) -> str:
    """``siamese.training.run`` -> ``training``; ``siamese.model`` -> ``model``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``siamese.*`` module ``path`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("siamese"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("siamese"):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names)  # from pkg import module
    return out


def _graph() -> dict[str, set[str]]:
    """Package-level edges: ``{unit: {units it imports}}`` (self-edges left out)."""
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        src = _unit(_module_name(path))
        for name in _imports(path):
            dst = _unit(name)
            if dst and dst in RANK and dst != src:
                edges.setdefault(src, set()).add(dst)
    return edges


def test_every_package_has_a_layer():
    units = {_unit(_module_name(p)) for p in SRC.rglob("*.py")} - {""}
    missing = sorted(units - set(RANK))
    assert not missing, f"add these to LAYERS (and DESIGN's list): {missing}"


def test_no_import_climbs_a_layer():
    climbs = sorted(
        f"{src} -> {dst}" for src, dsts in _graph().items() for dst in dsts if RANK[dst] > RANK[src]
    )
    assert not climbs, f"imports from a lower layer into a higher one: {climbs}"


def test_no_circle_between_packages():
    edges = _graph()
    seen: dict[str, int] = {}  # 1 = on the stack, 2 = done
    circles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                circles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in seen:
                visit(nxt, [*stack, nxt])
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node, [node])
    assert not circles, f"import circles between packages: {circles}"


def test_no_circle_between_modules_of_a_package():
    """Inside a package too (gallery.py <-> _files.py and gallery.py <-> discover.py were, through
    annotations: the folder and clustering code now take plain values, never the Gallery)."""
    by_module: dict[str, set[str]] = {}
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    for name, path in modules.items():
        by_module[name] = {m for m in _imports(path) if m in modules and m != name}
    circles = sorted(
        f"{a} <-> {b}"
        for a, dsts in by_module.items()
        for b in dsts
        if a < b
        and a in by_module.get(b, set())
        and not b.startswith(a + ".")
        and not a.startswith(b + ".")
    )
    assert not circles, f"modules that import each other: {circles}"
