"""Build a gallery from a trained model and a dataset (what ``siamese enroll`` runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from siamese.data import LabeledDataset, load_source
from siamese.errors import ConfigError, DataError
from siamese.gallery._files import find_model_dir
from siamese.gallery.gallery import Gallery
from siamese.gallery.inputs import ItemSpec, load_folder


def build_gallery(
    model_dir: str | Path,
    *,
    source: str | None = None,
    options: dict[str, Any] | None = None,
    folder: str | Path | None = None,
    out: str | Path | None = None,
    index: str = "auto",
    shots: int | None = None,
    holdout_classes: int = 0,
    far: float | None = None,
    threshold: float | None = None,
    seed: int = 0,
    crowding: float = 0.0,
    pgvector_table: str | None = None,
    device: str = "auto",
) -> Gallery:
    """Enroll a dataset's classes with a trained model, optionally calibrate, and save.

    The data is either a registered source (``source`` + ``options``, as under ``[data]`` in a
    config; items must already have the model's item shape) or a ``folder`` of class subfolders
    whose files are fitted to the model (images resized, ``.npy``/``.csv`` series and vectors).

    Args:
        model_dir: a run folder or model folder.
        source, options: a data source name and its options.
        folder: a folder of class subfolders (instead of ``source``).
        out: the gallery folder to write (None: do not save).
        index: ``"auto"``, ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"ivfpq"``.
        shots: enroll the first ``shots`` items of each class (None: all); the rest are
            calibration queries of enrolled classes.
        holdout_classes: classes kept out of the gallery, used by calibration as impostors.
        far: calibrate the "unknown" threshold for this false-accept rate (see
            ``Gallery.calibrate``).
        threshold: set the distance threshold directly instead.
        seed: picks the held-out classes.
        crowding: above 0, correct distances for crowding with this beta, against (up to 20,000
            of) the training items of the run in ``model_dir`` (read again with the run's own
            ``config.json``); see ``Gallery.set_background``.
        pgvector_table: keep the rows in PostgreSQL + pgvector under this table prefix (the
            DSN from ``$SIAMESE_GALLERY_DSN``) instead of the folder's SQLite database.
        device: where the items are embedded: ``"auto"`` (CUDA when torch sees a GPU, else
            the CPU), ``"cpu"`` or ``"cuda"`` (refused without a GPU).

    Returns:
        The fitted (and calibrated) ``Gallery``.

    Raises:
        ConfigError: neither or both of ``source``/``folder``, or bad options.
        DataError: data that does not fit the model, or nothing left to calibrate on.
        ModelFileError: a broken model folder.
    """
    from siamese.model import SiameseModel
    from siamese.training.device import place

    if (source is None) == (folder is None):
        raise ConfigError(
            "enroll: expected exactly one of a data source (--source) and a folder (--folder)"
        )
    model = place(SiameseModel.load(find_model_dir(model_dir)), device)
    gallery = Gallery(model, index=index, threshold=threshold)
    spec = ItemSpec.of(model)
    data = _read(spec, source, options or {}, folder)
    names = np.array([data.class_names[c] for c in data.labels], dtype=object)
    enroll_idx, query_idx, holdout = _split(data.labels, shots, holdout_classes, seed)
    if not len(enroll_idx):
        raise DataError("enroll: no item left to enroll (fewer classes than --holdout-classes)")
    gallery.add_embeddings(_embed(model, data, enroll_idx), names[enroll_idx].tolist())
    if crowding > 0:
        gallery.set_background(run_background(model, model_dir, seed), beta=crowding)
    if far is not None:
        if not len(query_idx):
            raise DataError(
                "calibrate: no item left for calibration; enroll fewer --shots per class or "
                "hold out classes with --holdout-classes"
            )
        gallery.calibrate_embeddings(_embed(model, data, query_idx), names[query_idx].tolist(), far)
        assert gallery.calibration_ is not None
        gallery.calibration_["holdout_classes"] = [data.class_names[c] for c in holdout]
    if out is not None:
        gallery.save(out, store=None if pgvector_table is None else _pgvector(pgvector_table))
    return gallery


def _pgvector(table: str) -> Any:
    import os

    from siamese.gallery._store_pgvector import DSN_ENV, PgVectorStore

    dsn = os.environ.get(DSN_ENV)
    if not dsn:
        raise ConfigError(
            f"--pgvector-table {table}: set ${DSN_ENV} to the PostgreSQL server's DSN "
            "(postgresql://user@host:port/db)"
        )
    return PgVectorStore(dsn, table)


def run_background(model: Any, run_dir: str | Path, seed: int, limit: int = 20_000) -> np.ndarray:
    """Embeddings ``(M, D)`` of (a seeded sample of ``limit``) training items of a run.

    Raises:
        ConfigError: ``run_dir`` has no ``config.json`` (a bare model folder has no training data).
    """
    from siamese.training.config import load_config
    from siamese.training.splits import load_splits

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(
            f"crowding: {path} not found; the correction needs the run folder written by "
            "`siamese train` (its training data is the background)"
        )
    _, parts, _ = load_splits(load_config(str(path), []))
    train = parts["train"]
    idx = np.arange(len(train))
    if len(idx) > limit:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))
    return _embed(model, train, idx)


def _read(
    spec: ItemSpec, source: str | None, options: dict[str, Any], folder: str | Path | None
) -> LabeledDataset:
    if folder is not None:
        items, lengths, labels = load_folder(folder, spec)
        classes = list(dict.fromkeys(labels))
        ids = {c: i for i, c in enumerate(classes)}
        return LabeledDataset(
            items,
            np.array([ids[n] for n in labels]),
            classes,
            [str(folder)] * len(labels),
            spec.kind,
            lengths,
        )
    assert source is not None
    image = spec.image or {}
    if image.get("center_crop"):  # as the run did: the reader's size applies after the crop
        from siamese.data.augment import center_crop

        options = dict(options)
        size = options.pop("size", None)
        data = center_crop(load_source(source, **options), image["center_crop"], size)
    else:
        data = load_source(source, **options)
    _check_preparation(data, image, source)
    if tuple(data.item_shape) != spec.shape:
        raise DataError(
            f"data source {source!r}: items of shape {tuple(data.item_shape)}, but the model takes "
            f"{spec.describe()}; set the reader's size options to match (or use --folder)"
        )
    return data


def _check_preparation(data: LabeledDataset, image: dict[str, Any], source: str) -> None:
    """The reader must prepare images as the model's training reader did (invert, ink crop)."""
    read = (data.meta or {}).get("image") or {}
    for key in ("invert", "ink_crop"):
        if key in read and key in image and read[key] != image[key]:
            raise DataError(
                f"data source {source!r}: images read with {key} = {read[key]!r}, but the model "
                f"was trained on images read with {key} = {image[key]!r}; pass --option "
                f"{key}={json.dumps(image[key])} (model.json, info.image, records how the "
                "model's training images were prepared)"
            )


def _split(
    labels: np.ndarray, shots: int | None, holdout_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    if shots is not None and shots < 1:
        raise ConfigError(f"shots: expected at least 1 example per class, got {shots}")
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    held = rng.choice(classes, size=min(max(holdout_classes, 0), len(classes)), replace=False)
    enroll, query = [], []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if c in held:
            query.append(idx)
            continue
        cut = len(idx) if shots is None else shots
        enroll.append(idx[:cut])
        query.append(idx[cut:])
    cat = lambda parts: np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)  # noqa: E731
    return cat(enroll), cat(query), sorted(int(c) for c in held)


def _embed(model: Any, data: LabeledDataset, idx: np.ndarray) -> np.ndarray:
    return model.embed_dataset(data.subset(idx))  # (n, D), loaded batch by batch
