"""Checking a structure's fields before they are packed, so that a bad value is an InputError
naming the field rather than a ``struct.error`` (or, for ``bytes``, silent padding)."""

from __future__ import annotations

import uuid as uuid_module

from ..errors import InputError

#: kind -> (what it is, check)
_UNSIGNED_BITS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}


def check_fields(obj: object, spec: dict[str, str | int], *, what: str) -> None:
    """``spec`` maps a field name to ``"u8"``..``"u64"``, ``"uuid"`` or a byte length (int)."""
    for name, kind in spec.items():
        value = getattr(obj, name)
        if isinstance(kind, int):
            if not isinstance(value, (bytes, bytearray)) or len(value) != kind:
                got = f"{len(value)} bytes" if isinstance(value, (bytes, bytearray)) else type(value).__name__
                raise InputError(f"{what} field {name} must be exactly {kind} bytes, got {got}")
        elif kind == "uuid":
            if not isinstance(value, uuid_module.UUID):
                raise InputError(f"{what} field {name} must be a uuid.UUID, got {type(value).__name__}")
        else:
            bits = _UNSIGNED_BITS[kind]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
                raise InputError(
                    f"{what} field {name} must be an integer from 0 to 2^{bits} - 1, got {value!r}"[:200]
                )
