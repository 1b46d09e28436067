"""The dataset ingest's door for identifying header content (issue 14).

Every NIfTI file extracted from an uploaded dataset archive passes :meth:`HeaderDoor.admit`
before its checksum is taken and before anything is kept: by default the door only notes
which files carry content in a free-text field or header extension
(:func:`evaluator.headers.inspect`), and :meth:`HeaderDoor.close` refuses the whole dataset
with one 422 naming every such file and field; with ``strip=True`` it replaces the file by a
copy without them (:func:`evaluator.headers.strip`), so only stripped files are checksummed
and stored. Messages name files and fields, never content.
"""

from __future__ import annotations

import os
from pathlib import Path

from challenge.core.errors import InvalidInput
from evaluator import headers
from evaluator import io as nifti

MAX_LISTED = 50
"""Files named in one refusal message; the error's count says how many there are."""


class HeaderDoor:
    """Checks (or strips) the files of one upload. ``found`` maps a file's path in the
    dataset (``inputs/<case>/<channel>.nii.gz``) to the fields that held content;
    ``size_change`` is the bytes stripping added (negative: removed) in total."""

    def __init__(self, *, strip: bool) -> None:
        self.strip = strip
        self.found: dict[str, list[str]] = {}
        self.size_change = 0

    def admit(self, path: Path, name: str) -> None:
        """Inspect ``path`` (named ``name`` in messages); strip it in place when asked and
        needed. A header the inspection cannot read is a 422 ``invalid_nifti_<code>``."""
        try:
            fields = headers.inspect(path)
            if fields and self.strip:
                self._strip(path)
        except nifti.NiftiError as exc:
            raise InvalidInput(f"{name}: {exc}", code=f"invalid_nifti_{exc.code}") from exc
        if fields:
            self.found[name] = fields

    def _strip(self, path: Path) -> None:
        clean = path.with_name(path.name + ".stripped")
        try:
            headers.strip(path, clean)
            self.size_change += clean.stat().st_size - path.stat().st_size
            os.replace(clean, path)
        finally:
            clean.unlink(missing_ok=True)

    def close(self) -> None:
        """Refuse the upload when files carry identifying content and stripping was not
        asked for: 422 ``identifying_headers`` naming each file and field (the first
        :data:`MAX_LISTED` files; ``details.files`` lists the same as data)."""
        if not self.found or self.strip:
            return
        shown = sorted(self.found.items())[:MAX_LISTED]
        listed = [f"{name}: {', '.join(fields)}" for name, fields in shown]
        more = len(self.found) - len(listed)
        raise InvalidInput(
            f"{len(self.found)} file(s) carry content in NIfTI header fields or extensions "
            "that can identify a patient; clean them (segarena dataset check) or upload with "
            "strip_identifiers=true: " + "; ".join(listed)
            + (f"; and {more} more file(s)" if more else ""),
            code="identifying_headers",
            details={"n_files": len(self.found),
                     "files": [{"file": name, "fields": fields} for name, fields in shown]})
