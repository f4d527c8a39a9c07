"""Gallery: enroll classes from a few examples, then verify and identify (with "unknown")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import siamese
from siamese.errors import ConfigError, DataError, ModelFileError, SiameseError
from siamese.gallery import _files, _files_v1
from siamese.gallery._calibration import calibration
from siamese.gallery._crowding import Crowding
from siamese.gallery._results import UNKNOWN, Identification, Match, Verification
from siamese.gallery._store import GalleryStore, StoredGallery
from siamese.gallery._stored_rows import StoredRows
from siamese.gallery.discover import Discovery, check_names, discover
from siamese.gallery.inputs import ItemSpec, check_batch, label_names
from siamese.gallery.vector_index import VectorIndex

# model distance -> (faiss metric, raw faiss score -> distance)
_METRICS = {
    "euclidean": ("l2", lambda s: np.sqrt(np.maximum(s, 0.0))),
    "squared_euclidean": ("l2", lambda s: np.maximum(s, 0.0)),
    "cosine": ("ip", lambda s: 1.0 - s),
    "l1": ("l1", lambda s: s),
}


class Gallery:
    """Enrolled examples of known classes, searchable by a trained Siamese model.

    Distances follow the model: its ``distance`` (euclidean, squared euclidean, cosine on
    L2-normalised embeddings searched by inner product, or L1), or ``1 - p(same)`` when the model
    has Koch's pair head (candidates found by L1, then re-scored by the head). Smaller is closer.

    Args:
        model: a ``SiameseModel`` (``embed``, ``similarity``, ``distance_name``, ``head``).
        index: ``"auto"`` (exact search up to 20,000 examples, HNSW beyond, IVF-PQ past
            100,000), ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"ivfpq"`` (see ``VectorIndex``).
        threshold: the distance above which the nearest class is "unknown" (and ``verify`` says
            different). None: not set until ``calibrate`` (``0.5`` probability for a pair head).
        batch_size: items embedded per forward pass.

    Attributes (after ``fit``):
        embeddings_: ``(N, D)`` float32 enrolled embeddings. labels_: ``(N,)`` class ids.
        class_names_: the name of each class id. index_: the ``VectorIndex``.
        threshold_: the distance threshold in use. calibration_: what ``calibrate`` measured.
        store_: the transactional store the gallery is attached to (after ``save`` or
            ``load``), or None. While attached, every change (``add``, ``fit``, ``calibrate``,
            ``set_background``) is one committed transaction before the call returns.

    The class name ``"unknown"`` is reserved: it is the answer for a query beyond the threshold.
    """

    def __init__(
        self,
        model: Any,
        index: str = "auto",
        threshold: float | None = None,
        *,
        batch_size: int = 256,
    ):
        self.model = model
        self.index = index
        self.threshold = threshold
        self.batch_size = batch_size
        name = "l1" if model.head is not None else model.distance_name
        if name not in _METRICS:
            raise ConfigError(f"model distance {name!r}: a gallery supports {', '.join(_METRICS)}")
        self._metric, self._to_distance = _METRICS[name]
        self.crowding_: Crowding | None = None
        self.store_: GalleryStore | None = None
        self.generation_: str | None = None
        self._reset()

    # ---------------------------------------------------------------- enrolment
    def fit(
        self,
        items: np.ndarray,
        labels: Sequence[Any],
        class_names: Sequence[str] | None = None,
        lengths: np.ndarray | None = None,
    ) -> Gallery:
        """Enroll ``items`` from scratch (forgetting earlier enrolments).

        Args:
            items: ``(N, *item_shape)`` examples.
            labels: ``N`` class names, or integer indices into ``class_names`` (integers without
                ``class_names`` are their own names: ``3 -> "3"``).
            class_names: names of the integer labels.
            lengths: ``(N,)`` true lengths of padded sequences, for encoders that take them.

        Returns:
            self.

        Raises:
            DataError: items of the wrong shape, or labels that do not match them.
        """
        emb = self.embed(items, lengths)
        names = label_names(labels, class_names, len(emb))
        store, self.store_ = self.store_, None
        try:
            self._reset()
            self.add_embeddings(emb, names)
        finally:
            self.store_ = store
        if store is not None:  # the stored rows are replaced in one transaction
            try:
                self.generation_ = store.replace(self.snapshot())
            except BaseException:
                self._restore(store)
                raise
            self.index_ = self._server_index(store) or self.index_
        return self

    def add(
        self,
        items: np.ndarray,
        labels: Sequence[Any],
        class_names: Sequence[str] | None = None,
        lengths: np.ndarray | None = None,
    ) -> Gallery:
        """Enroll more examples of new or known classes without refitting (arguments as ``fit``)."""
        emb = self.embed(items, lengths)
        return self.add_embeddings(emb, label_names(labels, class_names, len(emb)))

    def add_embeddings(self, embeddings: np.ndarray, names: Sequence[str]) -> Gallery:
        """Enroll precomputed embeddings ``(N, D)`` under class ``names``; all or nothing.

        With an attached store, the rows are committed (one transaction) before the gallery in
        memory changes: when this returns, the enrolment is durable.

        Raises:
            DataError: the embeddings are not ``(N, D)``, ``names`` has another length, or a
                name is the reserved ``"unknown"``.
            ModelFileError: the store could not commit (nothing changed).
        """
        emb = np.asarray(embeddings, dtype=np.float32)
        dim = self.embeddings_.shape[1] if len(self.embeddings_) else emb.shape[-1]
        if emb.ndim != 2 or emb.shape[1] != dim or len(names) != len(emb):
            raise DataError(
                f"enroll: expected (N, {dim}) embeddings and N labels, got {tuple(emb.shape)} "
                f"embeddings and {len(names)} labels"
            )
        reserved = sorted({str(n) for n in names if str(n).strip().lower() == UNKNOWN})
        if reserved:
            raise DataError(
                f"labels: {reserved[0]!r} is reserved (the answer for a query beyond the "
                f"threshold); rename that class"
            )
        if not np.isfinite(emb).all():
            raise DataError("enroll: the embeddings hold NaN or infinity")
        if self.index_ is None:
            self.index_ = VectorIndex(dim, self._metric, self.index)
        new = [n for n in dict.fromkeys(map(str, names)) if n not in self._class_ids]
        ids = {**self._class_ids, **{n: len(self._class_ids) + i for i, n in enumerate(new)}}
        labels = np.array([ids[str(n)] for n in names], dtype=np.int64)
        radius = None if self.crowding_ is None else self.crowding_.radii(emb)  # checks dims
        if self.store_ is not None:  # durable first: acknowledged only once committed
            self.store_.append(
                items=len(self.labels_),
                classes=len(self.class_names_),
                new_classes=new,
                embeddings=emb,
                labels=labels,
                radius=radius,
            )
        self.index_.add(self._for_index(emb))
        self.class_names_ += new
        self._class_ids = ids
        if isinstance(self.embeddings_, StoredRows):  # rows on the server: counted, not copied
            self.embeddings_, self.labels_ = (
                self.embeddings_.extended(len(emb)),
                self.labels_.extended(len(emb)),
            )
        else:
            self.embeddings_ = np.concatenate([self.embeddings_.reshape(-1, dim), emb])
            self.labels_ = np.concatenate([self.labels_, labels])
        if self.crowding_ is not None and radius is not None:
            self.crowding_.radius = np.concatenate([self.crowding_.radius, radius])
        return self

    def set_background(self, embeddings: np.ndarray, beta: float = 0.5, k: int = 10) -> Gallery:
        """Correct distances for crowding against a background set (``gallery._crowding``).

        Args:
            embeddings: ``(M, D)`` background embeddings, typically the model's training items
                (never the queries); ``None`` turns the correction off.
            beta: how strongly (0.5 is the CSLS ranking). k: neighbours for each radius.

        Raises:
            ConfigError: a pair-head model (its scores are not distances) or bad settings.
        """
        if embeddings is None:
            crowding = None
        elif self.model.head is not None:
            raise ConfigError("crowding correction: needs a distance model, not a pair head")
        else:
            crowding = Crowding(embeddings, self.model.distance_name, beta, k)
            crowding.extend(np.asarray(self.embeddings_))  # every row, also from a store
        if self.store_ is not None:
            old, self.crowding_ = self.crowding_, crowding
            try:
                self.store_.set_crowding(
                    self.settings(),
                    None if crowding is None else crowding.background,
                    None if crowding is None else crowding.radius,
                )
            except BaseException:
                self.crowding_ = old
                raise
        self.crowding_ = crowding
        return self

    def embed(self, items: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Embeddings ``(N, D)`` float32 of a batch of items, checked against the model.

        Raises:
            DataError: the batch does not fit the model's item shape.
        """
        spec = self.item_spec()
        arr = check_batch(items, spec) if spec else np.asarray(items)
        if len(arr) == 0:
            raise DataError("items: expected at least one item, got an empty batch")
        try:
            out = self.model.embed(arr, lengths, batch_size=self.batch_size)  # (N, D)
        except (RuntimeError, ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(
                f"items: the model cannot embed a batch of shape {arr.shape} ({first})"
            ) from None
        return out.numpy().astype(np.float32)

    def item_spec(self) -> ItemSpec | None:
        """What an item of the model looks like, or None when the model does not record it."""
        try:
            return ItemSpec.of(self.model)
        except ConfigError:
            return None

    # ---------------------------------------------------------------- queries
    def identify(
        self, items: np.ndarray, k: int = 5, lengths: np.ndarray | None = None
    ) -> list[Identification]:
        """The top-``k`` enrolled classes of each query, or "unknown" beyond the threshold.

        A class's distance is that of its nearest enrolled example.

        Raises:
            ConfigError: the gallery is empty. DataError: items of the wrong shape.
        """
        return self.identify_embeddings(self.embed(items, lengths), k)

    def predict(self, items: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """The nearest class name of each query, or ``"unknown"``: ``(Q,)`` object array."""
        return np.array([r.label for r in self.identify(items, k=1, lengths=lengths)], dtype=object)

    def identify_embeddings(self, embeddings: np.ndarray, k: int = 5) -> list[Identification]:
        """``identify`` for precomputed query embeddings ``(Q, D)``."""
        labels, dists = self._nearest_classes(np.asarray(embeddings, np.float32), k)
        t = self.threshold_
        out = []
        for row_l, row_d in zip(labels, dists, strict=True):
            matches = [
                Match(self.class_names_[c], float(d))
                for c, d in zip(row_l, row_d, strict=True)
                if c >= 0
            ]
            known = t is None or matches[0].distance <= t
            label = matches[0].label if known else UNKNOWN
            out.append(Identification(label, known, matches[0].distance, matches))
        return out

    def verify(
        self,
        a: np.ndarray,
        b: np.ndarray,
        lengths_a: np.ndarray | None = None,
        lengths_b: np.ndarray | None = None,
    ) -> list[Verification]:
        """Whether ``a[i]`` and ``b[i]`` are of the same class, with ``model.similarity`` as score.

        Raises:
            DataError: the batches differ in length or do not fit the model.
        """
        ea, eb = self.embed(a, lengths_a), self.embed(b, lengths_b)  # (N, D) each
        if len(ea) != len(eb):
            raise DataError(
                f"verify: expected as many items in a as in b, got {len(ea)} and {len(eb)}"
            )
        score = self.model.similarity(torch.from_numpy(ea), torch.from_numpy(eb)).numpy()  # (N,)
        dist = 1.0 - score if self.model.head is not None else -score
        t = self.threshold_
        return [
            Verification(None if t is None else bool(d <= t), float(s), float(d), t)
            for s, d in zip(score, dist, strict=True)
        ]

    # ---------------------------------------------------------------- discovery
    def discover(
        self, items: np.ndarray, lengths: np.ndarray | None = None, **settings: Any
    ) -> Discovery:
        """Cluster the queries answered "unknown" into candidate new classes (``gallery.discover``).

        Args:
            items, lengths: the queries (as in ``identify``).
            settings: as ``discover_embeddings`` takes them (keyword only):
            method: ``"agglomerative"`` (average linkage cut at ``link_scale`` x the threshold)
                or ``"hdbscan"``; never a fixed number of clusters.
            min_cluster_size: smaller groups are noise (at least 2).
            link_scale: the agglomerative cut as a multiple of ``link``'s distance.
            unknown: which queries are clustered: ``"threshold"``, those ``identify`` answers
                "unknown"; ``"novelty"``, those farther from their nearest class than all but
                ``novelty_rate`` of that class's enrolled examples are from their nearest
                classmate (needs no calibration).
            novelty_rate: for ``unknown="novelty"``, in (0, 1).
            link: the agglomerative cut's unit: ``"threshold"`` (the gallery's) or ``"spread"``
                (the median over classes of the mean distance between two enrolled examples).
            min_samples: HDBSCAN's core-point neighbourhood (None: ``min_cluster_size``).

        Returns:
            A ``Discovery``: each cluster's size, medoid, members (query indices) and distance
            to the nearest known class; ``message`` says when every query is known.

        Raises:
            ConfigError: the gallery is empty, or has no calibrated threshold where the
                settings use it (``unknown`` or ``link`` ``"threshold"``), or bad settings.
            DataError: no queries, or items of the wrong shape.
        """
        return self.discover_embeddings(self.embed(items, lengths), **settings)

    def discover_embeddings(
        self,
        embeddings: np.ndarray,
        *,
        method: str = "agglomerative",
        min_cluster_size: int = 3,
        link_scale: float = 1.0,
        unknown: str = "threshold",
        novelty_rate: float = 0.01,
        link: str = "threshold",
        min_samples: int | None = None,
    ) -> Discovery:
        """``discover`` for precomputed query embeddings ``(Q, D)``."""
        calibrated = self.calibration_ is not None or self.threshold is not None
        return discover(
            embeddings,
            lambda emb: self.identify_embeddings(emb, k=1),
            self.threshold_ if calibrated else None,
            self.model,
            method=method,
            min_cluster_size=min_cluster_size,
            link_scale=link_scale,
            unknown=unknown,
            novelty_rate=novelty_rate,
            link=link,
            min_samples=min_samples,
            enrolled=(self.embeddings_, self.labels_, self.class_names_),
        )

    def enroll_clusters(self, found: Discovery, names: Mapping[int, str]) -> Gallery:
        """Enroll discovered clusters as new classes: ``{cluster id: new class name}``.

        Every member of each named cluster is enrolled under its name, all in one call of
        ``add_embeddings`` (one committed transaction with an attached store): all or nothing.

        Raises:
            DataError: an unknown cluster id, or a name that is empty, ``"unknown"``, given
                twice, or already an enrolled class.
        """
        check_names(self.class_names_, found, names)
        emb = np.concatenate([found.members_embeddings(int(c)) for c in names])
        labels = [str(n) for c, n in names.items() for _ in found.clusters[int(c)].members]
        return self.add_embeddings(emb, labels)

    # ---------------------------------------------------------------- calibration
    def calibrate(
        self,
        items: np.ndarray,
        labels: Sequence[Any],
        far: float = 0.01,
        class_names: Sequence[str] | None = None,
        lengths: np.ndarray | None = None,
    ) -> Gallery:
        """Set ``threshold_`` so that at most ``far`` of impostor queries are accepted.

        An impostor is a query whose class is not enrolled; its score is the distance to the
        nearest enrolled class, and accepting it (not answering "unknown") is a false accept.
        When no query is of a non-enrolled class, each query's nearest *other* enrolled class
        stands in for it (leave-own-class-out: as if its class had not been enrolled). Queries of
        enrolled classes give the detection rate: nearest class correct and accepted.

        Args:
            items, labels, class_names, lengths: held-out validation queries (as in ``fit``),
                not the enrolled examples themselves.
            far: the target false-accept rate.

        Returns:
            self, with ``threshold_`` and ``calibration_`` (target and measured rates, counts, mode).

        Raises:
            ConfigError: empty gallery or ``far`` outside [0, 1). DataError: no usable impostor.
        """
        emb = self.embed(items, lengths)
        return self.calibrate_embeddings(emb, label_names(labels, class_names, len(emb)), far)

    def calibrate_embeddings(
        self, embeddings: np.ndarray, names: Sequence[str], far: float = 0.01
    ) -> Gallery:
        """``calibrate`` for precomputed query embeddings ``(Q, D)`` and their class names."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if len(names) != len(emb):
            raise DataError(f"labels: expected {len(emb)} labels (one per item), got {len(names)}")
        own = np.array([self._class_ids.get(str(n), -1) for n in names])
        top, dist = self._nearest_classes(emb, 2)  # (Q, <=2) class ids and distances
        result = calibration(own, top, dist, far)
        if self.store_ is not None:
            self.store_.update_settings({"threshold_": result["threshold"], "calibration": result})
        self.calibration_ = result
        self.threshold_ = result["threshold"]
        return self

    # ---------------------------------------------------------------- files
    def save(
        self,
        directory: str | Path,
        *,
        with_model: bool = True,
        store: GalleryStore | None = None,
    ) -> Path:
        """Write the gallery into a folder and attach it there: later changes commit to it.

        The folder holds ``gallery.json`` (the manifest), the store (``gallery.db``, an SQLite
        database, unless ``store`` is given: e.g. a ``PgVectorStore``), a faiss index cache and
        the model in ``model/`` (so the folder is self-contained). Saving into a folder of the
        first layout migrates it.

        Args:
            directory: the gallery folder (created if needed).
            with_model: also write ``model/`` (skip it when only enrolments changed).
            store: where the rows go (default: ``directory/gallery.db``).

        Raises:
            ConfigError: the gallery is empty. ModelFileError: the store cannot be written.
        """
        self._check_fitted()
        directory = Path(directory)
        store = _files.prepare_folder(
            directory, self.model, with_model=with_model, attached=self.store_, store=store
        )
        if store is self.store_ and self.generation_ is not None:
            store.update_settings(self.settings())  # the rows are there already
        else:
            self.generation_ = store.replace(self.snapshot())
        self.store_ = store
        self.index_ = self._server_index(store) or self.index_  # search on the server
        return _files.finish_folder(directory, store, self.index_, self.generation_)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        model: Any = None,
        *,
        dsn: str | None = None,
        device: str = "auto",
    ) -> Gallery:
        """Read a gallery written by ``save`` (nothing is unpickled), attached to its store.

        The faiss index is rebuilt from the stored embeddings when its cache is missing or stale.

        Args:
            directory: the gallery folder.
            model: the model to use instead of the copy in ``directory/model``.
            dsn: the PostgreSQL connection string of a ``pgvector`` gallery (default: the
                environment variable its manifest names).
            device: where the gallery's own model embeds queries: ``"auto"`` (CUDA when torch
                sees a GPU, else the CPU), ``"cpu"`` or ``"cuda"`` (refused without a GPU).

        Raises:
            ModelFileError: a file is missing, corrupt or inconsistent with the others.
        """
        directory = Path(directory)
        manifest = _files.read_manifest(directory)
        if model is None:
            from siamese.model import SiameseModel
            from siamese.training.device import place

            model = place(SiameseModel.load(manifest.model_path), device)
        if manifest.store is None:  # the first layout: files, no store
            stored, index = _files_v1.load_v1(directory, manifest.config)
            gallery = cls._from_stored(model, stored, manifest.path)
            gallery.index_ = index
            return gallery
        store = _files.open_store(directory, manifest.store, dsn)
        try:
            stored = _files.read_store(store)
            gallery = cls._from_stored(model, stored, manifest.path)
            gallery._attach_index(store, directory, stored)
        except BaseException:
            store.close()
            raise
        gallery.store_, gallery.generation_ = store, stored.generation
        return gallery

    def settings(self) -> dict[str, Any]:
        """What a store keeps beside the rows: index kind, metric, threshold, calibration."""
        crowding = self.crowding_
        return {
            "library_version": siamese.__version__,
            "index": self.index,
            "metric": self._metric,
            "distance": "pair_head" if self.model.head is not None else self.model.distance_name,
            "threshold": self.threshold,
            "threshold_": self.threshold_,
            "calibration": self.calibration_,
            "crowding": None if crowding is None else {"beta": crowding.beta, "k": crowding.k},
        }

    def snapshot(self) -> StoredGallery:
        """Every row and setting, as a store writes them."""
        c = self.crowding_
        return StoredGallery(
            self.settings(),
            list(self.class_names_),
            self.embeddings_.astype(np.float32),
            self.labels_.astype(np.int64),
            None if c is None else c.radius.astype(np.float32),
            None if c is None else c.background,
            self.generation_ or "",
        )

    @property
    def num_classes(self) -> int:
        """Number of enrolled classes."""
        return len(self.class_names_)

    def __len__(self) -> int:
        return len(self.labels_)

    # ---------------------------------------------------------------- internals
    @classmethod
    def _from_stored(cls, model: Any, stored: StoredGallery, where: Path) -> Gallery:
        """A gallery holding ``stored``'s rows and settings (no index yet).

        Raises:
            ModelFileError: the model searches another metric than the gallery was built with,
                or the crowding settings are unusable (``where`` names the manifest).
        """
        s = stored.settings
        try:
            gallery = cls(model, index=s.get("index", "auto"), threshold=s.get("threshold"))
        except SiameseError as exc:
            raise ModelFileError(f"{where}: {exc}") from None
        if gallery._metric != s.get("metric"):
            raise ModelFileError(
                f"{where}: the gallery was built with metric {s.get('metric')!r} but the model "
                f"searches with {gallery._metric!r}; load it with the model it was enrolled with"
            )
        gallery.embeddings_, gallery.labels_ = stored.embeddings, stored.labels
        gallery.class_names_ = list(stored.class_names)
        gallery._class_ids = {n: i for i, n in enumerate(stored.class_names)}
        gallery.threshold_ = s.get("threshold_")
        gallery.calibration_ = s.get("calibration")
        crowding = s.get("crowding")
        if crowding:
            if stored.background is None or stored.radius is None:
                raise ModelFileError(f"{where}: crowding is on but the store holds no background")
            try:
                c = Crowding(
                    stored.background,
                    model.distance_name,
                    float(crowding["beta"]),
                    int(crowding["k"]),
                )
            except (KeyError, TypeError, ValueError, SiameseError) as exc:
                raise ModelFileError(f"{where}: bad crowding settings ({exc})") from None
            c.radius = stored.radius
            gallery.crowding_ = c
        return gallery

    def _server_index(self, store: GalleryStore) -> Any:
        """The store's own search index (PostgreSQL + pgvector), or None."""
        emb = self.embeddings_
        dim = emb.shape[1] if emb.ndim == 2 else 0
        return store.vector_index(self._metric, int(dim), len(self.labels_), self.index)

    def _attach_index(
        self, store: GalleryStore, directory: Path | None, stored: StoredGallery
    ) -> None:
        """Search through the store's index, else a faiss index from the folder's cache."""
        self.index_ = self._server_index(store) or _files.cached_index(
            directory,
            stored,
            self.embeddings_,
            metric=self._metric,
            kind=self.index,
            prepare=self._for_index,
        )

    def _restore(self, store: GalleryStore) -> None:
        """Put the gallery back to what ``store`` holds (after a change that failed to commit)."""
        stored = store.read()
        fresh = type(self)._from_stored(self.model, stored, Path(store.where))
        fresh._attach_index(store, None, stored)
        fresh.store_, fresh.generation_ = store, stored.generation
        vars(self).update(vars(fresh))

    def _reset(self) -> None:
        self.embeddings_ = np.zeros((0, 0), dtype=np.float32)
        self.labels_ = np.zeros(0, dtype=np.int64)
        self.class_names_: list[str] = []
        self._class_ids: dict[str, int] = {}
        self.index_: VectorIndex | None = None
        default = 0.5 if self.model.head is not None else None  # p(same) = 0.5
        self.threshold_: float | None = self.threshold if self.threshold is not None else default
        self.calibration_: dict[str, Any] | None = None
        if self.crowding_ is not None:
            self.crowding_.radius = np.zeros(0, dtype=np.float32)

    def _check_fitted(self) -> None:
        if self.index_ is None or not len(self.labels_):
            raise ConfigError("the gallery is empty: enroll examples with fit(items, labels) first")

    def _for_index(self, emb: np.ndarray) -> np.ndarray:
        if self._metric == "ip":  # cosine: unit vectors, inner product
            return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-8)
        return emb

    def _nearest_classes(self, emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` classes per query by nearest example: ``(Q, k')`` ids and distances."""
        self._check_fitted()
        assert self.index_ is not None
        k = max(1, min(int(k), self.num_classes))
        n = len(self.labels_)
        labels = np.zeros((len(emb), k), dtype=np.int64)
        dists = np.zeros((len(emb), k), dtype=np.float64)
        todo = np.arange(len(emb))
        width = min(n, 4 * k if self.model.head is None else 16 * k)
        if self.crowding_ is not None:  # the corrected nearest may rank lower by raw distance
            width = min(n, 8 * k + 32)
        while len(todo):
            cand_d, cand_i = self._candidates(emb[todo], width)  # (q, width) each
            cand_c = np.full(cand_i.shape, -1, dtype=np.int64)  # each candidate's class
            cand_c[cand_i >= 0] = self.labels_[cand_i[cand_i >= 0]]
            short = []
            for row, q in enumerate(todo):
                found = _first_per_class(cand_i[row], cand_d[row], cand_c[row], k)
                if len(found) < k and width < n:
                    short.append(q)
                    continue
                found += [(-1, np.inf)] * (k - len(found))  # an approximate index may miss some
                labels[q], dists[q] = zip(*found, strict=True)
            todo, width = np.array(short, dtype=np.int64), min(n, width * 4)
        return labels, dists

    def _candidates(self, emb: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest ``width`` examples per query, as distances (ascending) and example ids."""
        assert self.index_ is not None
        scores, ids = self.index_.search(self._for_index(emb), width)  # (Q, width)
        if self.model.head is None:
            dist = self._to_distance(scores.astype(np.float64))
            if self.crowding_ is not None:
                return self.crowding_.adjust(dist, ids)
            return dist, ids
        valid = np.maximum(ids, 0)
        q = torch.from_numpy(np.repeat(emb, ids.shape[1], axis=0))  # (Q * width, D)
        e = torch.from_numpy(self.embeddings_[valid.reshape(-1)])  # (Q * width, D)
        p = self.model.similarity(q, e).numpy().reshape(ids.shape)  # (Q, width)
        dist = np.where(ids >= 0, 1.0 - p.astype(np.float64), np.inf)
        order = np.argsort(dist, axis=1, kind="stable")
        return np.take_along_axis(dist, order, 1), np.take_along_axis(ids, order, 1)


def _first_per_class(
    ids: np.ndarray, dists: np.ndarray, classes: np.ndarray, k: int
) -> list[tuple[int, float]]:
    """The first (nearest) occurrence of each class along sorted candidates (``classes``: each
    candidate's class id), up to ``k`` classes."""
    seen: dict[int, float] = {}
    for i, d, c in zip(ids.tolist(), dists.tolist(), classes.tolist(), strict=True):
        if i < 0:
            continue
        if c not in seen:
            seen[c] = d
            if len(seen) == k:
                break
    return list(seen.items())
