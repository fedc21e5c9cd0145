"""``vhdupload bench``: measure how fast a link and an account take a disk, which thread count is
best, and how vhdupload compares with the SDK and AzCopy on the same data.

Modules, one job each: :mod:`.images` makes synthetic fixed VHDs, :mod:`.floor` computes what no
uploader can beat, :mod:`.competitors` runs the SDK and AzCopy, :mod:`.runner` runs the matrix
and cleans up, :mod:`.report` prints the table and the JSON object, :mod:`.plot` draws the PNG
(matplotlib, an optional extra). Library code: it never prints; the CLI does.
"""

from .images import SyntheticImage, make_image
from .report import BenchReport, recommended_threads
from .runner import BenchOptions, run_bench

__all__ = ["BenchOptions", "BenchReport", "SyntheticImage", "make_image", "recommended_threads", "run_bench"]
