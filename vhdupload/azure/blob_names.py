"""Azure's rules for blob names, checked before any request.

From Azure's "Naming and Referencing Containers, Blobs, and Metadata": 1 to 1,024 characters;
no name ending with a dot, a forward slash or a backslash (or a mix of them); no path segment
ending with a dot; at most 254 path segments; no control characters (0x00-0x1F, 0x7F-0x9F),
which are not valid in URL paths even percent-encoded. A newline in a name has broken a
service's blob listing here (Azurite answered 500), so these are refused, not tried.

``.`` and ``..`` segments end with a dot, so they are refused too, and for a second reason:
in a URL they are dot-segments, which HTTP clients, proxies and servers may resolve
(``vhds/../os.vhd`` becomes ``os.vhd``), so the blob written would not be the one named.
"""

from __future__ import annotations

from ..errors import InputError
from ..printable import printable

MAX_NAME_LENGTH = 1024
MAX_SEGMENTS = 254


def check_blob_name(name: str) -> None:
    """Raise InputError (what is wrong; what to do) for a blob name Azure would refuse or mangle."""
    shown = printable(name if len(name) <= 120 else name[:60] + "…" + name[-59:])
    if not name:
        raise InputError("the blob name is empty: give CONTAINER/NAME or a blob URL that ends in a name")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"the blob name is {len(name)} characters long; Azure allows at most {MAX_NAME_LENGTH}")
    bad = next((ch for ch in name if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F), None)
    if bad is not None:
        raise InputError(
            f"the blob name {shown!r} holds the control character {printable(bad)}, which Azure does not "
            "allow in blob names: choose a name without control characters or newlines"
        )
    if any(0xD800 <= ord(ch) <= 0xDFFF or ord(ch) in (0xFFFE, 0xFFFF) for ch in name):
        raise InputError(f"the blob name {shown!r} holds a character that is not valid Unicode: choose another name")
    if name[-1] in "./\\":
        raise InputError(
            f"the blob name {shown!r} ends with {name[-1]!r}, which Azure does not allow: "
            "end the name with a letter or digit (e.g. .vhd)"
        )
    segments = name.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InputError(f"the blob name has {len(segments)} path segments; Azure allows at most {MAX_SEGMENTS}")
    for segment in segments:
        if segment in (".", ".."):
            raise InputError(
                f"the blob name {shown!r} has a {segment!r} segment: in a URL it would be resolved away "
                f"(a/../b.vhd becomes b.vhd), so the blob written would not be the one named; give the name without it"
            )
        if segment.endswith("."):
            raise InputError(
                f"the blob name {shown!r} has a path segment ending with a dot ({printable(segment)!r}), "
                "which Azure does not allow: rename that part"
            )
