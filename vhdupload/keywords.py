"""Misspelt keywords: one InputError naming the close match, for the library's entry points and
its settings objects alike (``TransferSettings(thread=4)`` says "did you mean 'threads'?"
instead of the bare ``TypeError`` Python raises)."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TypeVar

from .errors import InputError

T = TypeVar("T")


def unknown_keyword(owner: str, keyword: str, known: Iterable[str]) -> str:
    """The message for ``keyword``, which ``owner`` (``"upload_vhd()"``, ``"TransferSettings"``)
    does not take: the close match among ``known``, else all of them."""
    names = sorted(known)
    close = difflib.get_close_matches(keyword, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; it takes {', '.join(names)}"
    return f"{owner} has no option {keyword!r}{hint}"


def check_keywords(owner: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Raise InputError for the first (in sorted order) of ``given`` that is not in ``known``."""
    known = set(known)
    unknown = sorted(set(given) - known)
    if unknown:
        raise InputError(unknown_keyword(owner, unknown[0], known))


def parameter_names(function: Callable[..., object]) -> set[str]:
    """The names ``function`` accepts as keywords (not ``self``, not ``*args``/``**kwargs``)."""
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}


def refuse_unknown_keywords(cls: type[T]) -> type[T]:
    """A class decorator (put it above ``@dataclass``): constructing ``cls`` with a keyword its
    ``__init__`` does not take raises InputError naming the close match, not TypeError."""
    init = cls.__init__
    known = parameter_names(init)

    @functools.wraps(init)
    def checked_init(self: T, *args: object, **kwargs: object) -> None:
        check_keywords(cls.__name__, kwargs, known)
        init(self, *args, **kwargs)

    setattr(cls, "__init__", checked_init)
    return cls
