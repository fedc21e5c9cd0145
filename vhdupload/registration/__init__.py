"""Registration: turn uploaded page blobs into managed images, gallery image versions and disks.

- :mod:`.blobs` blob URLs and small ranged reads; :mod:`.preflight` the checks Azure would make;
- :mod:`.generation` Hyper-V generation from the partition table;
- :mod:`.bodies` the ARM request bodies; :mod:`.az_command` the equivalent ``az`` lines;
- :mod:`.arm` the compute client and ARM errors; :mod:`.storage_accounts` storage account IDs;
- :mod:`.resource_ids` the IDs of what is created;
- :mod:`.plans` the RegistrationPlan and ArmRequest types; :mod:`.prepare` the plan_* functions
  that build them (pre-flight, generation, bodies), :mod:`.gallery` the gallery version's, with
  :mod:`.gallery_features` (what a definition promises) and :mod:`.replication` (where a version
  goes and how far it got); :mod:`.operations` sending them;
  :mod:`.client` the :class:`Registrar` that is the library's entry point, with its typed specs.
"""

from __future__ import annotations

from ..azure.arm import make_compute_client
from .bodies import DataDisk, parse_data_disk
from ..guest.generation import GenerationDetection, detect_generation
from .client import Registrar
from .specs import CaptureSpec, DiskImportSpec, GalleryVersionSpec, ImageSpec, PlanContext
from .operations import Registration, run_plan
from .gallery import plan_gallery_version
from .prepare import plan_capture, plan_disk, plan_image
from ..errors import ReplicationFailedError
from .replication import (
    Distribution, RegionReplication, ReplicationStatus, TargetRegion, watch_replication,
)
from .plans import ArmRequest, RegistrationPlan
from .preflight import BlobCheck, check_blob

__all__ = [
    "ArmRequest",
    "BlobCheck",
    "CaptureSpec",
    "DiskImportSpec",
    "GalleryVersionSpec",
    "ImageSpec",
    "PlanContext",
    "Registrar",
    "DataDisk",
    "Distribution",
    "RegionReplication",
    "ReplicationFailedError",
    "ReplicationStatus",
    "TargetRegion",
    "watch_replication",
    "GenerationDetection",
    "Registration",
    "RegistrationPlan",
    "check_blob",
    "detect_generation",
    "make_compute_client",
    "parse_data_disk",
    "plan_capture",
    "plan_disk",
    "plan_gallery_version",
    "plan_image",
    "run_plan",
]
