"""The ``az`` lines equivalent to a publish's uploads, shown by a dry run beside the
registration's own (:mod:`vhdupload.registration.az_command`).

``az`` uploads only what Azure takes as it is (a fixed VHD of a whole MiB) and sends every
byte; vhdupload converts on the fly and sends only data, so these lines say what is made, not
how fast. A file Azure would refuse as it is (a dynamic VHD, a VHDX, a size not a whole MiB)
gets its conversion first (:func:`convert_lines`), and the upload lines send the converted
file, with its size. Every az line names the subscription, so that it runs where the plan was
made whatever ``az account show`` says.
"""

from __future__ import annotations

import shlex
from pathlib import PurePath

from ..redact import strip_query
from ..registration.blobs import parse_blob_url


def converted_path(path: str) -> str:
    """Where :func:`convert_lines` writes the fixed copy of ``path``: beside it, ``NAME-fixed.vhd``."""
    source = PurePath(path)
    return str(source.with_name(f"{source.stem}-fixed.vhd"))


def convert_lines(*, path: str) -> list[str]:
    """The step before az can send ``path``: a fixed VHD of a whole MiB, with vhdupload itself (qemu-img's
    equivalent is ``qemu-img convert -O vpc -o subformat=fixed,force_size`` of a size already whole MiB)."""
    return [" ".join(shlex.quote(w) for w in ("vhdupload", "convert", path, converted_path(path)))]


def az_upload_blob(*, path: str, url: str, subscription: str | None = None) -> str:
    where = parse_blob_url(url)
    words = ["az", "storage", "blob", "upload", "--type", "page", "--account-name", where.account,
             "--container-name", where.container, "--name", where.name, "--file", path,
             *(["--subscription", subscription] if subscription else [])]
    return " ".join(shlex.quote(w) for w in words)


def az_upload_disk(*, path: str, name: str, resource_group: str, location: str, upload_size: int,
                   sku: str | None, os_type: str | None, generation: str | None,
                   subscription: str | None = None) -> list[str]:
    where = ["--subscription", subscription] if subscription else []
    create = ["az", "disk", "create", *where, "--resource-group", resource_group, "--name", name, "--location", location,
              "--upload-type", "Upload", "--upload-size-bytes", str(upload_size)]
    if sku:
        create += ["--sku", sku]
    if os_type:
        create += ["--os-type", os_type]
    if generation:
        create += ["--hyper-v-generation", generation]
    grant = ["az", "disk", "grant-access", *where, "--resource-group", resource_group, "--name", name,
             "--access-level", "Write", "--duration-in-seconds", "86400"]
    copy = ["azcopy", "copy", path, "<accessSas from grant-access>", "--blob-type", "PageBlob"]
    revoke = ["az", "disk", "revoke-access", *where, "--resource-group", resource_group, "--name", name]
    return [" ".join(shlex.quote(w) for w in words) for words in (create, grant, copy, revoke)]


__all__ = ["az_upload_blob", "az_upload_disk", "convert_lines", "converted_path", "strip_query"]
