"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ItemIn(BaseModel):
    """One item: exactly one of ``image_base64`` and ``values``."""

    model_config = ConfigDict(extra="forbid")

    image_base64: str | None = Field(
        None,
        description="An encoded image (PNG, JPEG, ...) in base64; resized to the model's input.",
    )
    values: list[Any] | None = Field(
        None,
        description=(
            "Numbers in the model's item shape: a vector of D numbers, a series as T rows of F "
            "numbers (shorter series are padded for LSTM encoders), or an image as nested lists."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ItemIn:
        if (self.image_base64 is None) == (self.values is None):
            raise ValueError("an item needs exactly one of 'image_base64' and 'values'")
        return self


class IdentifyRequest(BaseModel):
    """Who/what are these items?"""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(..., min_length=1, description="The query items.")
    k: int = Field(5, ge=1, le=100, description="How many classes to return per query.")


class VerifyRequest(BaseModel):
    """Are ``a`` and ``b`` of the same class?"""

    model_config = ConfigDict(extra="forbid")

    a: ItemIn
    b: ItemIn


class EnrollRequest(BaseModel):
    """Add examples of new or known classes (all or nothing)."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(..., min_length=1)
    labels: list[str] = Field(..., min_length=1, description="One class name per item.")


class DiscoverSettings(BaseModel):
    """How ``/discover`` clusters the unknown items (the multipart form's fields)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["agglomerative", "hdbscan"] = Field(
        "agglomerative",
        description="agglomerative: average linkage cut at link_scale x the gallery's threshold; "
        "hdbscan: density-based. Never a fixed number of clusters.",
    )
    min_cluster_size: int = Field(3, ge=2, le=10_000, description="Smaller groups are noise.")
    link_scale: float = Field(1.0, gt=0, le=100, description="agglomerative: the cut's factor.")
    unknown: Literal["threshold", "novelty"] = Field(
        "threshold",
        description="Which items are clustered: threshold (answered unknown) | novelty (farther "
        "from their nearest class than all but novelty_rate of its own examples are from theirs).",
    )
    novelty_rate: float = Field(0.01, gt=0, lt=1, description="unknown=novelty: the share.")
    link: Literal["threshold", "spread"] = Field(
        "threshold",
        description="agglomerative: the cut's unit, the gallery's threshold | spread (the median "
        "class's mean distance between two of its enrolled examples).",
    )
    min_samples: int | None = Field(None, ge=1, le=10_000, description="hdbscan's core points.")


class DiscoverRequest(DiscoverSettings):
    """Which of these items are of no enrolled class, and do they form new classes?"""

    items: list[ItemIn] = Field(..., min_length=1, description="The query items.")


class MatchOut(BaseModel):
    label: str
    distance: float


class IdentificationOut(BaseModel):
    label: str = Field(..., description='The nearest class, or "unknown" beyond the threshold.')
    known: bool
    distance: float
    matches: list[MatchOut]


class IdentifyResponse(BaseModel):
    results: list[IdentificationOut]
    threshold: float | None


class VerifyResponse(BaseModel):
    same: bool | None = Field(
        ..., description="distance <= threshold; null when no threshold is set"
    )
    score: float = Field(
        ..., description="The model's similarity (pair-head probability or -distance)"
    )
    distance: float
    threshold: float | None


class EnrollResponse(BaseModel):
    added: int
    new_classes: list[str]
    classes: int
    examples: int


class ClusterOut(BaseModel):
    cluster: int = Field(..., description="The cluster's id (0 = the largest).")
    size: int
    medoid: int = Field(..., description="Index (into items) of the most central member.")
    members: list[int] = Field(..., description="Indices into items.")
    nearest_class: str = Field(..., description="The enrolled class nearest to the medoid.")
    distance: float = Field(..., description="The medoid's distance to that class.")
    spread: float = Field(..., description="The members' mean distance to the medoid.")


class DiscoverResponse(BaseModel):
    queries: int
    known: int
    unknown: list[int] = Field(..., description='Indices of the items answered "unknown".')
    clusters: list[ClusterOut]
    noise: list[int] = Field(..., description="Unknown items in no cluster.")
    method: str
    settings: dict[str, Any]
    message: str


class HealthResponse(BaseModel):
    status: str
    classes: int
    examples: int
    kind: str | None
    item_shape: list[int] | None
    threshold: float | None
    index: str | None


class ErrorResponse(BaseModel):
    detail: str


REQUESTS: list[type[BaseModel]] = [IdentifyRequest, VerifyRequest, EnrollRequest, DiscoverRequest]
