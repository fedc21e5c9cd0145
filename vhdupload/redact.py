"""Keep secrets out of everything a person or a log can read.

SAS signatures, account keys and bearer tokens must never reach output, errors, logs or
metadata. :func:`redact` scrubs a string; :class:`RedactingFilter` does it for log records.
"""

from __future__ import annotations

import logging
import re

_REPLACEMENT = "REDACTED"

# SAS query parameters that are secret, or that together with others let one rebuild access.
_SAS_SECRET_PARAMS = re.compile(r"(?i)([?&](?:sig|se|skoid|sktid|skt|ske|sks|skv|saoid|suoid|scid)=)[^&\s\"'<>]*")
_ACCOUNT_KEY = re.compile(r"(?i)(AccountKey=)[^;\s\"']+")
_SHARED_ACCESS_SIGNATURE = re.compile(r"(?i)(SharedAccessSignature=)[^;\s\"']+")
_BEARER = re.compile(r"(?i)(Bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_AUTH_HEADER = re.compile(r"(?i)((?:'|\")?(?:authorization|x-ms-copy-source-authorization)(?:'|\")?\s*[:=]\s*(?:'|\")?)[^'\"\n]+")

_known_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember a literal secret (an account key, a token) so that it is scrubbed everywhere."""
    if secret and len(secret) >= 8:
        _known_secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every secret replaced by ``REDACTED``."""
    if not text:
        return text
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, _REPLACEMENT)
    text = _SAS_SECRET_PARAMS.sub(rf"\g<1>{_REPLACEMENT}", text)
    text = _ACCOUNT_KEY.sub(rf"\g<1>{_REPLACEMENT}", text)
    text = _SHARED_ACCESS_SIGNATURE.sub(rf"\g<1>{_REPLACEMENT}", text)
    text = _BEARER.sub(rf"\g<1>{_REPLACEMENT}", text)
    text = _AUTH_HEADER.sub(rf"\g<1>{_REPLACEMENT}", text)
    return text


def strip_query(url: str) -> str:
    """A URL without its query string: the form in which blob URLs are shown and stored."""
    return url.split("?", 1)[0]


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not a secret leak
            return True
        record.msg = redact(message)
        record.args = None
        return True
