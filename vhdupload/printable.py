"""The one escaping function for text that came from a file or from Azure.

A disk's ``os-release``, a kernel directory's name, an LVM volume group, a VHDX creator string,
a blob's metadata, a disk's tags and a server's error text may hold any character. Printed raw,
``ESC[2J`` clears the screen, an OSC sequence retitles the terminal, and a newline forges a line
of the program's own (``verdict: ready for Azure``). Every such string goes through
:func:`printable` before it reaches a terminal; the CLI's output helper applies it to every line
it prints, so the only line breaks on screen are the ones the CLI itself joins.
"""

from __future__ import annotations

#: Bidirectional-text controls (invisible, yet they reorder what a terminal shows) and the
#: Unicode line and paragraph separators (some terminals and pagers break lines on them).
_INVISIBLE_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
)
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe to show on one terminal line: control characters (C0, DEL, C1: newlines,
    escape sequences), bidi controls and line separators become visible escapes such as ``\\n``,
    ``\\x1b`` or ``\\u202e``.

    Backslashes are left alone, so ordinary text is unchanged (this is for a person to read,
    not a reversible encoding: ``--json`` is the exact form).
    """
    if text is None:
        return text
    text = str(text)
    if text.isprintable():  # the common case: nothing to do (isprintable is false for every control)
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or ch in _INVISIBLE_CONTROLS:
            out.append(_SHORT.get(ch) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"))
        else:
            out.append(ch)
    return "".join(out)
