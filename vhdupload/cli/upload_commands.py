"""Commands not written yet; this module adds its commands to the app."""

from __future__ import annotations
