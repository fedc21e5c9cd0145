"""The ``az`` lines equivalent to a publish's uploads, shown by a dry run beside the
registration's own (:mod:`vhdupload.registration.az_command`).

``az`` uploads only what Azure takes as it is (a fixed VHD of a whole MiB) and sends every
byte; vhdupload converts on the fly and sends only data, so these lines say what is made, not
how fast.
"""

from __future__ import annotations

import shlex

from ..redact import strip_query
from ..registration.blobs import parse_blob_url


def az_upload_blob(*, path: str, url: str) -> str:
    where = parse_blob_url(url)
    words = ["az", "storage", "blob", "upload", "--type", "page", "--account-name", where.account,
             "--container-name", where.container, "--name", where.name, "--file", path]
    return " ".join(shlex.quote(w) for w in words)


def az_upload_disk(*, path: str, name: str, resource_group: str, location: str, upload_size: int,
                   sku: str | None, os_type: str | None, generation: str | None) -> list[str]:
    create = ["az", "disk", "create", "--resource-group", resource_group, "--name", name, "--location", location,
              "--upload-type", "Upload", "--upload-size-bytes", str(upload_size)]
    if sku:
        create += ["--sku", sku]
    if os_type:
        create += ["--os-type", os_type]
    if generation:
        create += ["--hyper-v-generation", generation]
    grant = ["az", "disk", "grant-access", "--resource-group", resource_group, "--name", name,
             "--access-level", "Write", "--duration-in-seconds", "86400"]
    copy = ["azcopy", "copy", path, "<accessSas from grant-access>", "--blob-type", "PageBlob"]
    revoke = ["az", "disk", "revoke-access", "--resource-group", resource_group, "--name", name]
    return [" ".join(shlex.quote(w) for w in words) for words in (create, grant, copy, revoke)]


__all__ = ["az_upload_blob", "az_upload_disk", "strip_query"]
