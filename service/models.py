"""What the upload API answers (these models are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.verdict import Counts, Light, Outcome, Verdict

UploadStatus = Literal["received", "verdict", "refused", "ingesting", "loaded", "failed"]


class StatusEvent(BaseModel):
    at: datetime
    status: UploadStatus
    message: str


class Upload(BaseModel):
    id: str
    lab: str
    file_name: str = Field(
        description="The name the lab gave the file (shown only; files are kept by SHA-256)"
    )
    platemap_name: str | None = None
    sha256: str
    size_bytes: int
    received_at: datetime
    status: UploadStatus = Field(
        description="received → verdict → ingesting → loaded | failed; refused when nothing can be loaded"
    )
    status_message: str
    duplicate: bool = Field(False, description="These exact bytes had already been uploaded by this lab")
    verdict: Verdict | None = None
    verdict_seconds: float | None = Field(None, description="Time the verdict took on the server")
    history: list[StatusEvent] = Field(default_factory=list)


class UploadSummary(BaseModel):
    id: str
    file_name: str
    sha256: str
    received_at: datetime
    status: UploadStatus
    status_message: str
    outcome: Outcome | None
    light: Light | None = Field(None, description="green / amber / red, as on the verdict page")
    headline: str | None = Field(None, description="The verdict in a few words")
    summary: str | None
    counts: Counts | None


class UploadList(BaseModel):
    lab: str
    uploads: list[UploadSummary]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong and what to do")


class Health(BaseModel):
    status: Literal["ok"]
    ingestion: str
