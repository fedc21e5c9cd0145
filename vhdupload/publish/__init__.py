"""``publish``: from local VHD files to a registered image in one rerunnable step.

- :mod:`.plan` the :class:`PublishPlan` (image, storage, disks) and its validation;
- :mod:`.manifest` reading a TOML manifest into a plan (exact keys);
- :mod:`.check` step 1, the local checks of every disk;
- :mod:`.compare` whether an existing image already has the body we would send;
- :mod:`.runner` :func:`publish` itself: check, upload all, verify, register.
"""

from __future__ import annotations

from .manifest import load_manifest
from .plan import DiskSource, ImageTarget, PublishPlan, StorageTarget
from ..transfer.set_pacing import split_budget
from .runner import DiskProgress, DiskResult, PublishOptions, PublishResult, publish

__all__ = [
    "DiskProgress",
    "DiskResult",
    "DiskSource",
    "ImageTarget",
    "PublishOptions",
    "PublishPlan",
    "PublishResult",
    "StorageTarget",
    "load_manifest",
    "publish",
    "split_budget",
]
