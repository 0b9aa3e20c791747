"""Uploaded PDF files (test reports, voucher evidence): checked by content
and size, stored under the configured UPLOAD_DIR with generated names; the
uploaded name is kept, made safe, for display only."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask_babel import lazy_gettext as _l

from booking.core.validators import strip_control_characters
from booking.errors import DomainError

PDF_MAGIC = b"%PDF-"
MAX_PDF_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    relative_path: str  # under the folder given to store_pdf's caller, e.g. "12/ab….pdf"
    display_name: str


def read_pdf(stream: IO[bytes], max_bytes: int, field: str) -> bytes:
    """The file's bytes, refused unless it is a PDF (its first bytes, not its
    name, decide) within `max_bytes`."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DomainError(
            _l("文件不能超过 %(mb)s MB。", mb=round(max_bytes / (1024 * 1024), 1)), field=field
        )
    if not data.startswith(PDF_MAGIC):
        raise DomainError(_l("请上传 PDF 文件。"), field=field)
    return data


def store_pdf(
    stream: IO[bytes],
    filename: str,
    root: Path,
    subfolder: str,
    *,
    field: str,
    max_bytes: int = MAX_PDF_BYTES,
) -> StoredFile:
    """Check and store one uploaded PDF as `<root>/<subfolder>/<uuid>.pdf`."""
    data = read_pdf(stream, max_bytes, field)
    shown = display_name(filename)
    if not shown.lower().endswith(".pdf"):
        shown += ".pdf"
    folder = root / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.pdf"
    stored.write_bytes(data)
    return StoredFile(relative_path=f"{subfolder}/{stored.name}", display_name=shown[:255])


def display_name(filename: str) -> str:
    """The uploaded name as people wrote it (Chinese included), without any
    directory part or control characters. It is only ever shown or offered as
    the download name; the file itself is stored under a generated name."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    # Format characters (e.g. U+202E right-to-left override) can disguise a name.
    visible = "".join(ch for ch in base if unicodedata.category(ch) != "Cf")
    shown = strip_control_characters(visible).strip().lstrip(".")
    return shown[:200] or "document.pdf"


def resolve(root: Path, relative_path: str) -> Path | None:
    """The stored file's path, or None if the name would leave `root`."""
    candidate = (root / relative_path).resolve()
    return candidate if candidate.is_relative_to(root.resolve()) else None
