"""Azure's rules for the names of the resources vhdupload makes, checked before any request.

A name goes into the request's URL path: ``..`` sent a ``PUT`` to ``…/providers/Microsoft.Compute/``
(the path resolved away the image's own segment), and a name Azure refuses would otherwise fail
only after every disk had been uploaded. The rules are those of Microsoft's "Naming rules and
restrictions for Azure resources"
(https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules),
sections Microsoft.Compute and Microsoft.Resources:

- disks, images, snapshots: 1-80 alphanumerics, underscores, periods and hyphens; start with an
  alphanumeric, end with an alphanumeric or an underscore;
- galleries: 1-80 alphanumerics, underscores and periods; start and end with an alphanumeric;
- gallery image definitions: 1-80 alphanumerics, underscores, hyphens and periods; start and
  end with an alphanumeric;
- gallery image versions: numbers and periods, ``MAJOR.MINOR.PATCH``, each a 32-bit integer
  (the REST reference: "Allowed characters are digits and periods. Digits must be within the
  range of a 32-bit integer. Format: <MajorVersion>.<MinorVersion>.<Patch>");
- resource groups: 1-90 letters or digits (Unicode, as .NET's ``Char.IsLetterOrDigit``),
  underscores, hyphens, periods and parentheses; not ending with a period;
- virtual machines (a capture's source): 1-64 characters, none of ``\\/"[]:|<>+=;,?*@&#%``,
  no whitespace or control character; not starting with an underscore, not ending with a period or
  a hyphen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from ..printable import printable

_MAX_INT32 = 2**31 - 1


@dataclass(frozen=True)
class _Rule:
    longest: int
    pattern: re.Pattern[str]
    says: str  # what a valid name is, in words


_ALNUM = "A-Za-z0-9"
RULES: dict[str, _Rule] = {
    "managed disk": _Rule(80, re.compile(rf"[{_ALNUM}](?:[{_ALNUM}_.-]*[{_ALNUM}_])?"),
                          "letters, digits, underscores, periods and hyphens, starting with a letter or digit and "
                          "ending with a letter, digit or underscore"),
    "image": _Rule(80, re.compile(rf"[{_ALNUM}](?:[{_ALNUM}_.-]*[{_ALNUM}_])?"),
                   "letters, digits, underscores, periods and hyphens, starting with a letter or digit and "
                   "ending with a letter, digit or underscore"),
    "gallery": _Rule(80, re.compile(rf"[{_ALNUM}](?:[{_ALNUM}_.]*[{_ALNUM}])?"),
                     "letters, digits, underscores and periods, starting and ending with a letter or digit"),
    "gallery image definition": _Rule(80, re.compile(rf"[{_ALNUM}](?:[{_ALNUM}_.-]*[{_ALNUM}])?"),
                                      "letters, digits, underscores, hyphens and periods, starting and ending "
                                      "with a letter or digit"),
    "gallery image version": _Rule(64, re.compile(r"[0-9]+\.[0-9]+\.[0-9]+"),
                                   "three whole numbers each at most 2147483647, e.g. 1.0.0"),
    "resource group": _Rule(90, re.compile(r"[\w().-]*[\w()-]"),
                            "letters, digits, underscores, hyphens, periods and parentheses, not ending with a period"),
    "virtual machine": _Rule(64, re.compile(r"[^\s\\/\"\[\]:|<>+=;,?*@&#%_][^\s\\/\"\[\]:|<>+=;,?*@&#%]*(?<![.-])"),
                             "no spaces or any of \\/\"[]:|<>+=;,?*@&#%, not starting with an underscore, not "
                             "ending with a period or a hyphen"),
}


def name_problem(kind: str, name: object) -> str | None:
    """What is wrong with ``name`` as the name of a ``kind`` (a key of :data:`RULES`), or None."""
    rule = RULES[kind]
    if not isinstance(name, str) or not name:
        return f"the {kind} name is empty" if not name else f"the {kind} name must be text, not {name!r}"
    shown = printable(name if len(name) <= 100 else name[:50] + "…" + name[-49:])
    if len(name) > rule.longest:
        return f"the {kind} name {shown!r} is {len(name)} characters long; Azure allows at most {rule.longest}"
    if kind == "gallery image version" and not rule.pattern.fullmatch(name):
        return f"the {kind} name {shown!r} is not MAJOR.MINOR.PATCH: {rule.says}"
    if not rule.pattern.fullmatch(name) or (kind == "resource group" and not name.isprintable()):
        return f"the {kind} name {shown!r} is not one Azure takes: use {rule.says}"
    if kind == "gallery image version" and any(int(part) > _MAX_INT32 for part in name.split(".")):
        return f"the {kind} name {shown!r} has a part over 2147483647: Azure reads each part as a 32-bit integer"
    return None


def check_name(kind: str, name: object) -> str:
    """``name``, or :class:`InputError` naming what is wrong with it as a ``kind``'s name."""
    problem = name_problem(kind, name)
    if problem:
        raise InputError(problem)
    return name  # type: ignore[return-value]  # name_problem refused anything but a non-empty str


def check_names(*pairs: tuple[str, object]) -> None:
    """Check several (kind, name) pairs at once: one :class:`InputError` naming every bad one."""
    problems = [p for p in (name_problem(kind, name) for kind, name in pairs) if p]
    if problems:
        raise InputError("; ".join(problems))
