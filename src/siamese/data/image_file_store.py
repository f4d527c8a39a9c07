"""ImageFileStore: image files decoded on demand, so a dataset of photos costs only its file list.

Items are ``(C, H, W)`` uint8 (``C`` = 1 for grayscale, 3 for RGB). Files are read from disk or
straight from a ``.zip`` archive. A small least-recently-used cache (bounded in bytes) keeps
recently decoded images, which helps when a sampler draws the same items again soon.
"""

from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from siamese.data.image_open import MAX_FILE_BYTES, check_image, open_image
from siamese.data.image_prep import check_margin, fit_image
from siamese.errors import DataError

#: Pillow modes that hold one channel (decoded as grayscale when ``grayscale`` is ``None``).
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "P;1"}


_REPLACE = "replace or remove the unreadable files"


class ImageFileStore:
    """Images in files (or members of one zip archive), decoded, converted and resized on ``load``.

    Args:
        files: one path per item; member names inside ``archive`` when it is given.
        grayscale: ``True`` for one channel, ``False`` for RGB, ``None`` to follow the first image
            (grayscale if it has one channel, else RGB).
        size: ``(height, width)`` every image is resized to (bilinear), or ``None`` to keep the
            size of the files (then all files must have the same size).
        invert: store ``255 - value`` (Omniglot: makes the ink bright on a dark background).
        ink_crop: crop each image to the square around its ink with this margin before resizing
            (``siamese.data.ink_crop``), or ``None`` to keep the whole image.
        archive: a ``.zip`` file holding the images (then ``files`` are member names), one such
            entry per item (``None`` for a plain file), or ``None`` for plain files only.
        cache_bytes: at most this many bytes of decoded images are kept (0 disables the cache).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        grayscale: bool | None = None,
        size: tuple[int, int] | None = None,
        invert: bool = False,
        ink_crop: float | None = None,
        archive: str | Path | Sequence[str | Path | None] | None = None,
        cache_bytes: int = 256 * 2**20,
    ):
        self.files = [str(f) for f in files]
        self.grayscale = grayscale
        self.size = size
        self.invert = invert
        self.ink_crop = check_margin(ink_crop)
        if archive is None or isinstance(archive, (str, Path)):
            archive = [archive] * len(self.files)
        if len(archive) != len(self.files):
            raise ValueError(f"archive: expected {len(self.files)} entries, got {len(archive)}")
        self.archives = [None if a is None else str(a) for a in archive]
        self.cache_bytes = cache_bytes
        self._shape: tuple[int, int, int] | None = None
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached = 0
        self._zips: dict[str, zipfile.ZipFile] = {}
        self._zip_pid = -1

    # --- the ItemStore protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.files)

    @property
    def item_shape(self) -> tuple[int, ...]:
        """``(C, H, W)``; found by decoding the first file when the options leave it open."""
        if self._shape is None:
            if not self.files:
                channels = 1 if self.grayscale else 3
                self._shape = (channels, *(self.size or (0, 0)))
            else:
                self._shape = tuple(self._decode(0).shape)  # type: ignore[assignment]
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def load(self, indices: np.ndarray) -> np.ndarray:
        """Decode the images at ``indices``.

        Returns:
            ``(len(indices), C, H, W)`` uint8.

        Raises:
            DataError: a file is missing, corrupt or truncated, or (without ``size``) its size
                differs from the first image's.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        shape = self.item_shape
        out = np.empty((len(indices), *shape), dtype=np.uint8)  # (B, C, H, W)
        for k, i in enumerate(indices.tolist()):
            img = self._cache.get(i)
            if img is None:
                img = self._decode(i)
                self._remember(i, img)
            else:
                self._cache.move_to_end(i)
            if img.shape != shape:
                raise DataError(
                    f"{self.describe_file(i)}: image of size {img.shape[1]}x{img.shape[2]} "
                    f"(HxW), expected {shape[1]}x{shape[2]} like the first image; set the "
                    f"size option (e.g. size = {shape[1]}) to resize every image"
                )
            out[k] = img
        return out

    def subset(self, indices: np.ndarray) -> ImageFileStore:
        """The store of the files at ``indices`` (same decoding options, its own cache)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        store = ImageFileStore(
            [self.files[i] for i in indices.tolist()],
            grayscale=self.grayscale,
            size=self.size,
            invert=self.invert,
            ink_crop=self.ink_crop,
            archive=[self.archives[i] for i in indices.tolist()],
            cache_bytes=self.cache_bytes,
        )
        if self._shape is not None:
            store.grayscale = self._shape[0] == 1
            store._shape = self._shape
        return store

    # --- checks -------------------------------------------------------------------------------
    def verify(self) -> list[dict[str, str]]:
        """Decode every file once (nothing is cached) and report the ones that fail.

        Returns:
            One ``{"file", "error"}`` record per unreadable image or image of the wrong size;
            an empty list when every image decodes.
        """
        problems = []
        for i in range(len(self.files)):
            try:
                img = self._decode(i)
                if self.size is None and img.shape != self.item_shape:
                    raise DataError(
                        f"size {img.shape[1]}x{img.shape[2]} differs from the first image"
                    )
            except DataError as exc:
                problems.append({"file": self.describe_file(i), "error": str(exc)})
        return problems

    def check(self) -> list[dict[str, str]]:
        """Decode every file cheaply (``image_open.check_image``) and report the ones that fail.

        The check a dataset gets when it is loaded: every unreadable, truncated or oversized file
        is found before training starts, and all of them are listed at once. Without ``size``
        the sizes the files declare must agree, as ``load`` requires.

        Returns:
            One ``{"file", "error", "fix"}`` record per bad file; an empty list when all are
            readable.
        """
        problems = []
        first: tuple[int, int] | None = None
        for i in range(len(self.files)):
            where = self.describe_file(i)
            try:
                w, h = check_image(self._source(i), where)
            except DataError as exc:
                problems.append({"file": where, "error": str(exc), "fix": _REPLACE})
                continue
            first = first or (w, h)
            if self.size is None and (w, h) != first:
                problems.append(
                    {
                        "file": where,
                        "error": f"{where}: image of size {h}x{w} (HxW), not {first[1]}x{first[0]} "
                        "like the first image",
                        "fix": f"set the size option (e.g. size = {first[1]}) to resize every image",
                    }
                )
        return problems

    def describe_file(self, i: int) -> str:
        """Where item ``i`` lives: its path, or ``archive.zip/member``."""
        archive = self.archives[i]
        return self.files[i] if archive is None else f"{archive}/{self.files[i]}"

    # --- decoding -----------------------------------------------------------------------------
    def _decode(self, i: int) -> np.ndarray:
        """Read and decode file ``i`` into ``(C, H, W)`` uint8."""
        where = self.describe_file(i)
        with open_image(self._source(i), where) as im:
            return self._convert(im)

    def _source(self, i: int) -> str | bytes:
        """File ``i``'s path, or its bytes read from the archive."""
        archive = self.archives[i]
        if archive is None:
            return self.files[i]
        where = self.describe_file(i)
        zf = self._archive(archive)
        try:
            info = zf.getinfo(self.files[i])
        except KeyError:
            raise DataError(f"{where}: no such member in the zip archive") from None
        if info.file_size > MAX_FILE_BYTES:
            raise DataError(
                f"{where}: {info.file_size:,} bytes, more than the {MAX_FILE_BYTES:,} an image "
                "file may have; is it the right file?"
            )
        try:
            return zf.read(info)
        except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:  # e.g. a bad CRC
            raise DataError(
                f"{where}: cannot read the zip member ({exc}); the archive is corrupt"
            ) from None

    def _convert(self, im: Image.Image) -> np.ndarray:
        if self.grayscale is None:
            self.grayscale = im.mode in _GRAY_MODES
        im = im.convert("L" if self.grayscale else "RGB")
        im = fit_image(im, self.size, self.ink_crop)
        arr = np.asarray(im, dtype=np.uint8)
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)
        if self.invert:
            arr = 255 - arr
        return np.ascontiguousarray(arr)

    def _archive(self, archive: str) -> zipfile.ZipFile:
        # One handle per process: worker processes must not share the parent's file offset.
        if self._zip_pid != os.getpid():
            self._zips, self._zip_pid = {}, os.getpid()
        if archive not in self._zips:
            try:
                self._zips[archive] = zipfile.ZipFile(archive)
            except (OSError, zipfile.BadZipFile) as exc:
                raise DataError(f"{archive}: cannot open the zip archive ({exc})") from exc
        return self._zips[archive]

    def _remember(self, i: int, img: np.ndarray) -> None:
        if img.nbytes > self.cache_bytes:
            return
        self._cache[i] = img
        self._cached += img.nbytes
        while self._cached > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.nbytes

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for DataLoader workers: no open archive handle, no cache.
        state = dict(self.__dict__)
        state.update(_zips={}, _zip_pid=-1, _cache=OrderedDict(), _cached=0)
        return state
