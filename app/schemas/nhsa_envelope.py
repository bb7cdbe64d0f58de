"""The national platform's envelope out, as the OpenAPI document describes it (``nhsa.md``,
"Transport").  The answers themselves are rendered by :mod:`app.nhsa.render`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.common import Out


class EnvelopePublic(Out):
    infcode: int = Field(description="0: carried out; -1: refused (nothing changed).")
    inf_refmsgid: str = Field(description="This service's message id.")
    refmsg_time: str = Field(description="When the message was received, yyyy-MM-dd HH:mm:ss (UTC+8).")
    respond_time: str = Field(description="When it was answered, yyyy-MM-dd HH:mm:ss (UTC+8).")
    err_msg: str = Field(description="A refusal: [problem-name] detail; else empty.")
    warn_msg: str
    output: dict[str, Any] = Field(description="The transaction's answer; amounts are JSON numbers, exact decimals.")
