"""The demo's own result (``demo.json``): seen vs never-seen patterns, with and without the
crowding correction, per pattern."""

from __future__ import annotations

from siamese.reporting import html as h
from siamese.reporting.run_folder import RunFolder


def demo_section(run: RunFolder) -> str | None:
    """The section, or None when the run is not a demo run (no demo.json)."""
    d = run.demo
    if not d:
        return None
    seen = set(run.info.get("split_classes", {}).get("train", []))
    out = [
        h.metric_tiles(
            [
                ("never-seen patterns, corrected", d.get("unseen_accuracy")),
                ("never-seen, plain nearest", d.get("unseen_accuracy_plain")),
                ("seen patterns, corrected", d.get("seen_accuracy")),
                ("seen, plain nearest", d.get("seen_accuracy_plain")),
            ]
        )
    ]
    crowd = d.get("crowding", {})
    out.append(
        f"<p>One example of each pattern enrolled ({h.fmt(d.get('enrollments'))} enrollments); "
        f"{h.fmt(d.get('seen_queries'))} queries of seen and {h.fmt(d.get('unseen_queries'))} of "
        "never-seen patterns identified by their nearest enrolled example. <i>Corrected</i>: "
        f"each enrolled example's distances reduced by {h.fmt(crowd.get('beta'))} x its mean "
        f"distance to its {h.fmt(crowd.get('k'))} nearest of {h.fmt(crowd.get('background'))} "
        "training windows (crowding); <i>plain</i>: no correction.</p>"
    )
    corrected, plain = d.get("per_pattern", {}), d.get("per_pattern_plain", {})
    rows = [
        [p, "seen in training" if p in seen else "never seen", corrected.get(p), plain.get(p)]
        for p in sorted(corrected, key=lambda p: (p not in seen, p))
    ]
    out.append(h.table(["pattern", "in training", "accuracy, corrected", "accuracy, plain"], rows))
    return "".join(out)
