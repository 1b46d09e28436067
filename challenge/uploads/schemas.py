"""What a tus client says about an upload: its ``Upload-Metadata`` header, validated with the
same text types as the API's query parameters."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from challenge.core.errors import VALIDATION_CODES, InvalidInput
from challenge.core.text import Comment, DatasetName, Text

#: Most key/value pairs, and longest header (characters), the server reads.
MAX_PAIRS = 16
MAX_HEADER = 8192


class UploadMetadata(BaseModel):
    """``kind`` ``submission``: ``target`` is the phase id (decimal), ``comment`` optional.
    ``kind`` ``dataset``: ``target`` is the challenge slug; ``name`` is required and
    ``strip_identifiers`` optional (``true``/``false``). ``filename`` is informative only.
    Other keys (some clients add ``filetype``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["submission", "dataset"]
    target: Annotated[str, Text(max_length=64, min_length=1)]
    filename: Annotated[str, Text(max_length=255)] = ""
    name: DatasetName | None = None
    strip_identifiers: bool = False
    comment: Comment = ""


def _pairs(header: str) -> dict[str, str]:
    """``key base64,key2 base64,...`` (a value may be absent: an empty string) as a dict."""
    if len(header) > MAX_HEADER:
        raise InvalidInput(f"Upload-Metadata is longer than {MAX_HEADER} characters",
                           code="invalid_metadata")
    found: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _, encoded = item.partition(" ")
        if not key or key in found or len(found) >= MAX_PAIRS:
            raise InvalidInput("Upload-Metadata: keys must be unique, at most "
                               f"{MAX_PAIRS}", code="invalid_metadata")
        try:
            found[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Upload-Metadata: the value of {key[:40]!r} is not base64 of "
                               "UTF-8 text", code="invalid_metadata") from exc
    return found


def parse_metadata(header: str | None) -> UploadMetadata:
    """The validated metadata of a creation request; ``InvalidInput`` (422) naming the first
    bad key otherwise (``forbidden_character`` for a control character)."""
    try:
        return UploadMetadata.model_validate(_pairs(header or ""))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
        code = first["type"] if first["type"] in VALIDATION_CODES else "invalid_metadata"
        raise InvalidInput(f"Upload-Metadata {where}: {first['msg']}", code=code) from exc
