"""benchmarks/open_world.py runs end to end in quick mode (so it cannot rot); its cluster scores
are checked against sklearn on a hand-made discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import open_world
    finally:
        sys.path.pop(0)
    return open_world


def test_cluster_scores_by_hand():
    from siamese.gallery.discover import Cluster, Discovery

    def cl(i, members):
        return Cluster(i, len(members), members[0], members, "k", 1.0, 0.1)

    truth = np.array(["a", "n1", "n1", "n1", "n2", "n2", "n2", "n1", "n2"])
    found = Discovery(9, 1, list(range(1, 9)), [cl(0, [1, 2, 3, 7]), cl(1, [4, 5, 6])], [8],
                      "agglomerative", {}, "", np.zeros((8, 2)))  # fmt: skip
    s = _bench().cluster_scores(found, truth, ["n1", "n2"])
    assert s["clusters"] == 2 and s["noise"] == 1 and s["purity"] == 1.0 and s["recovered"] == 2
    assert s["per_type"]["n1"] == {"cluster": 0, "size": 4, "purity": 1.0, "recall": 1.0}
    assert s["per_type"]["n2"]["recall"] == pytest.approx(3 / 4)  # item 8 is noise
    from sklearn.metrics import adjusted_rand_score

    assert s["ari"] == pytest.approx(adjusted_rand_score(truth[1:], [0, 0, 0, 1, 1, 1, 0, 2]))


@pytest.mark.slow
def test_open_world_quick_traffic(tmp_path):
    out = tmp_path / "ow.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "open_world.py"), "--quick", "--only",
           "traffic", "--out", str(out), "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_S, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "wall time" in proc.stdout and out.with_suffix(".md").is_file()
    res = json.loads(out.read_text())["traffic"]
    assert res["never_seen"] == ["flapping", "surge", "degradation"]
    assert res["selection_held_out"] == [
        ["loss_bursts", "latency_spikes"],
        ["blocked", "capacity_limit"],
    ]
    for space in ("embedding", "raw"):
        r = res[space]
        assert 0.0 <= r["detection"]["auroc"] <= 1.0 and r["detection"]["novel"] == 90
        chosen = r["chosen_on_selection"]
        splits = r["selection_grid"]  # chosen by the mean ARI of the selection runs only
        mean = [np.mean([rows[i]["ari"] for rows in splits]) for i in range(len(splits[0]))]
        best = splits[0][int(np.argmax(mean))]
        assert chosen["selection_mean_ari"] == pytest.approx(max(mean))
        keys = ("far", "unknown", "novelty_rate", "method", "link", "link_scale",
                "min_cluster_size", "min_samples")  # fmt: skip
        assert all(chosen[k] == best.get(k) for k in keys)
        assert -1.0 <= r["discovery"]["ari"] <= 1.0 and 0 <= r["discovery"]["recovered"] <= 3
        assert -1.0 <= r["discovery"]["ari_never_seen"] <= 1.0
        types = r["types"]  # where each never-seen type went, counts that add up
        assert set(types) == {"flapping", "surge", "degradation"}
        for v in types.values():
            assert v["queries"] == 30 and v["noise"] <= v["unknown"] <= 30
            assert v["largest_share"] <= v["unknown"] - v["noise"]
        sent = sum(v["unknown"] for v in types.values())
        assert sent == r["detection"]["discovery_unknown_novel"]
    rules = {(row["far"], row["unknown"], row["novelty_rate"]) for row in splits[0]}
    assert ("novelty" in {u for _, u, _ in rules}) and len(rules) == len(_bench().RULES)
