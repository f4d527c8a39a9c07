"""What the load-time image check costs: reading a dataset without it, with it, and a full decode.

``load_source`` checks every image file of a lazily read dataset (``ImageFileStore.check``: the
header, the pixel limit, a decode at 1/8 scale for JPEGs and in full for other formats) so broken
files are found before training starts. This prints, per real dataset, the time of the reader
alone (file listing, no decoding), of the check, and of ``verify`` (a full decode and resize of
every file, what the first training epoch does anyway), each as the best of ``--repeat`` runs
(warm file cache), plus the first check (as cold as the cache was).

    python benchmarks/load_check.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from siamese.data._sources import _get

DATASETS = {
    "lfw (pairs.txt, 150x150 JPEG)": ("lfw", {"path": "lfw", "size": 105}),
    "omniglot (small1.zip, 105x105 PNG)": (
        "omniglot",
        {"path": "omniglot/images_background_small1.zip"},
    ),
    "att_faces (folders, 92x112 PGM)": ("folders", {"path": "att_faces"}),
}


def _best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-verify", action="store_true", help="skip the full decode")
    args = parser.parse_args()
    print(
        f"{'dataset':38} {'files':>6} {'reader':>8} {'check 1st':>10} {'check':>8} "
        f"{'ms/file':>8} {'verify':>8}"
    )
    for name, (source, options) in DATASETS.items():
        options = {**options, "path": str(args.data / options["path"])}
        if not Path(options["path"]).exists():
            print(f"{name:38} (not found: {options['path']})")
            continue
        reader = _get(source)
        t_read, ds = _best(lambda: reader(**options), args.repeat)  # noqa: B023
        store = ds.items
        start = time.perf_counter()
        problems = store.check()
        t_first = time.perf_counter() - start
        t_check, _ = _best(store.check, args.repeat)
        t_verify = float("nan") if args.skip_verify else _best(store.verify, 1)[0]
        n = len(store)
        print(
            f"{name:38} {n:6d} {t_read:7.2f}s {t_first:9.2f}s {t_check:7.2f}s "
            f"{1e3 * t_check / n:8.3f} {t_verify:7.2f}s   problems: {len(problems)}"
        )


if __name__ == "__main__":
    main()
