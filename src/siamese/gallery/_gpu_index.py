"""A faiss index searched on a GPU (faiss-gpu) when one is there and the option allows it.

``VectorIndex.gpu`` says whether: ``"off"`` (the default: search on the CPU), ``"auto"`` (on GPU 0
when ``faiss.get_num_gpus() > 0`` and the structure has a GPU form, else on the CPU) or ``"on"``
(refused in one line when faiss sees no GPU or the structure has no GPU form). The GPU copy is a
cache of the CPU index, which stays the index that is saved and grown: it is made again when the
index has changed (another object, or more vectors) since the last copy.

faiss has GPU forms of the flat and IVF structures; HNSW has none (``index_cpu_to_gpu`` refuses
it), so an HNSW gallery is searched on the CPU under ``"auto"``.
"""

from __future__ import annotations

from typing import Any

import faiss

from siamese.errors import ConfigError

GPU_OPTIONS = ("off", "auto", "on")
_RESOURCES: list[Any] = []  # one faiss.StandardGpuResources for the process (its scratch memory)


def check_gpu_option(value: str) -> str:
    """``value`` if it is one of off, auto, on.

    Raises:
        ConfigError: any other value.
    """
    if value not in GPU_OPTIONS:
        raise ConfigError(f"index gpu: expected one of {', '.join(GPU_OPTIONS)}, got {value!r}")
    return value


def gpu_count() -> int:
    """GPUs faiss can use (0 for the CPU-only faiss build, which has no ``get_num_gpus``)."""
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


#: index structures ``index_cpu_to_gpu`` cannot copy: HNSW graphs, 4-bit fast-scan PQ and the
#: exact re-rank wrapper (kind ``"ivfpq"``); ``"auto"`` searches them on the CPU
NO_GPU_FORM = (faiss.IndexHNSW, faiss.IndexFastScan, faiss.IndexRefine)


def on_gpu(index: faiss.Index, gpu: str = "auto", device: int = 0) -> faiss.Index:
    """The GPU copy of ``index``, or ``index`` itself.

    Args:
        index: a CPU faiss index.
        gpu: ``"off"`` (always ``index``), ``"auto"`` (the GPU copy when faiss sees a GPU and
            ``index`` has a GPU form) or ``"on"`` (the GPU copy, or an error).
        device: the GPU's number.

    Raises:
        ConfigError: ``gpu = "on"`` and faiss sees no GPU, or ``index`` has no GPU form; an
            unknown ``gpu`` value.
    """
    check_gpu_option(gpu)
    if gpu == "off":
        return index
    if gpu_count() == 0:
        if gpu == "auto":
            return index
        build = (
            "the CPU-only faiss build" if not hasattr(faiss, "StandardGpuResources") else "faiss"
        )
        raise ConfigError(
            f'index gpu = "on": {build} {faiss.__version__} sees no GPU (faiss.get_num_gpus() = 0); '
            'install faiss-gpu on a machine with an NVIDIA GPU, or set gpu = "auto" or "off"'
        )
    if isinstance(index, NO_GPU_FORM):
        if gpu == "auto":
            return index
        what = (
            "an HNSW" if isinstance(index, faiss.IndexHNSW) else "a fast-scan / re-ranked (ivfpq)"
        )
        raise ConfigError(
            f'index gpu = "on": faiss has no GPU form of {what} index; use kind "exact" or '
            '"ivf" for GPU search, or set gpu = "auto" (this index on the CPU)'
        )
    if not _RESOURCES:
        _RESOURCES.append(faiss.StandardGpuResources())
    return faiss.index_cpu_to_gpu(_RESOURCES[0], device, index)


def searchable(vectors: Any) -> faiss.Index:
    """The index a ``VectorIndex`` searches now: its GPU copy (cached) or its own index.

    The copy is made again when ``vectors.index`` is another object or holds another number of
    vectors than when it was copied; an IVF copy searches ``vectors.nprobe`` lists.
    """
    gpu = getattr(vectors, "gpu", "off")
    if gpu == "off":
        return vectors.index
    source, count = vectors.index, int(vectors.index.ntotal)
    cached = getattr(vectors, "_gpu_copy", None)  # (source index, its ntotal, gpu, copy)
    if cached is None or cached[0] is not source or cached[1:3] != (count, gpu):
        cached = (source, count, gpu, on_gpu(source, gpu))
        vectors._gpu_copy = cached
    index = cached[3]
    if index is not source and hasattr(index, "nprobe"):
        index.nprobe = vectors.nprobe
    return index
