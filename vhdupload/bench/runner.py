"""Run the bench: make (or take) an image, upload it once per thread count and repeat, run the
competitors, and delete every blob made (unless asked to keep them), also on failure and on
Ctrl-C."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from .. import planning
from ..azure.credentials import EMULATOR_KEY, client_options, resolve_blob_client
from ..azure.error_map import translate
from ..blob_image import blob_image
from ..destinations import PageBlob
from ..endpoints import open_source
from ..errors import InputError
from ..transfer import TransferSettings
from ..transfer.set_pacing import set_settings
from ..transfer.settings import ADAPTIVE_MAX, ADAPTIVE_START, DEFAULT_MAX_RETRIES
from ..upload import upload
from ..upload_result import UploadResult
from . import competitors
from .floor import data_runs
from .images import PATTERNS, make_image
from .report import BenchReport, ImageInfo, Run

COMPETITORS = ("sdk", "azcopy")
R = TypeVar("R")


class _Counted(Protocol):
    """What one upload's result counts, whichever tool made it."""

    @property
    def bytes_sent(self) -> int: ...
    @property
    def requests(self) -> int: ...
    @property
    def retries(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    container: str  # a container URL (maybe with a SAS) or a container name with credentials
    size: int = 4 * 1024**3
    fill: float = 0.25
    pattern: str = "random-blocks"
    image: str | None = None  # the user's own disk instead of a synthetic one
    threads: tuple[int | None, ...] = (2, 4, 8, 16, 32)  # None: vhdupload's adaptive default
    compare: tuple[str, ...] = ()
    repeat: int = 1
    keep: bool = False
    account_url: str | None = None
    connection_string: str | None = None
    account_key: str | None = None
    emulator: bool = False
    credential: Any = None
    azcopy: str | None = None  # an AzCopy binary (default: azcopy on PATH)
    workdir: str | None = None  # where the synthetic image goes (default: the temp folder)
    seed: int = 1
    timeout: float | None = None  # seconds one request may take before it is retried (None: 60)
    max_retries: int = DEFAULT_MAX_RETRIES  # retries of one request before giving up
    disks: int = 1  # a set sent side by side: the image, then data disks (see data_disk_shape)

    def check(self) -> None:
        if not self.threads or any(t is not None and not 1 <= t <= 256 for t in self.threads):
            raise InputError("thread counts must be between 1 and 256")
        if self.repeat < 1:
            raise InputError(f"the repeat count must be at least 1, got {self.repeat}")
        unknown = [c for c in self.compare if c not in COMPETITORS]
        if unknown:
            raise InputError(f"cannot compare with {', '.join(unknown)}: use sdk, azcopy or both")
        if self.pattern not in PATTERNS:
            raise InputError(f"unknown pattern {self.pattern!r}; use one of {', '.join(PATTERNS)}")
        if not 1 <= self.disks <= MAX_DISKS:
            raise InputError(f"the disk count must be between 1 and {MAX_DISKS}, got {self.disks}")


#: The most disks a bench sends side by side (a VM size's data disks go to 64; a bench of 16
#: already shows how a set shares the link).
MAX_DISKS = 16
#: A set's data disks, each beside the first: scattered 4-64 KiB runs over half its size, 9 %
#: of it data (the benchmarks' image (b) beside image (a)), each with its own seed.
DATA_DISK_PATTERN, DATA_DISK_FILL = "scattered-pages", 0.09


def data_disk_size(size: int) -> int:
    """A data disk's virtual size beside a first disk of ``size`` bytes (whole MiB, >= 8 MiB)."""
    return max(8 * 1024**2, size // 2 // 1024**2 * 1024**2)


def blob_destination(container: str, name: str) -> str:
    """The destination of blob ``name`` in ``container`` (a URL, its SAS kept, or a name)."""
    if "://" in container:
        parts = urlsplit(container)
        path = parts.path.rstrip("/") + "/" + quote(name)
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    if "/" in container.strip("/"):
        raise InputError(f"{container!r} is not a container: give CONTAINER or a container URL, not a blob")
    return f"{container.strip('/')}/{name}"


def run_bench(
    options: BenchOptions,
    *,
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> BenchReport:
    """Run the bench described by ``options``; see the module docstring."""

    options.check()
    say = progress or (lambda _message: None)
    cancel = cancel or threading.Event()
    tag = uuid.uuid4().hex[:8]
    made: list[Any] = []  # blob clients of every blob this bench may have created
    credentials = dict(account_url=options.account_url, connection_string=options.connection_string,
                       account_key=options.account_key, emulator=options.emulator, credential=options.credential)

    pool = max(t if t is not None else ADAPTIVE_MAX for t in options.threads)
    top = max((t for t in options.threads if t is not None), default=ADAPTIVE_START)  # the competitors'

    def client_for(name: str, **client_kwargs: Any) -> Any:
        return resolve_blob_client(blob_destination(options.container, name), **credentials,
                                   **(client_kwargs or client_options(threads=pool, timeout=options.timeout)))

    probe = client_for(f"vhdupload-bench-{tag}-probe.vhd")
    container_client = probe._get_container_client()
    try:
        container_existed = container_client.exists()
    except Exception as exc:  # noqa: BLE001 - translated to one line below
        raise translate(exc, action=f"looking at container {probe.container_name}") from None
    folder = None
    try:
        if options.image:
            source = options.image
            disk = open_source(source)
            try:
                image = blob_image(disk)
                data = planning.total(data_runs(image)) - (image.size - image.data_size)
                info: ImageInfo = {"size": image.virtual_size, "fill": round(data / image.virtual_size, 4),
                        "pattern": "file", "data_bytes": data, "path": str(source)}
            finally:
                disk.close()
        else:
            folder = tempfile.mkdtemp(prefix="vhdupload-bench-", dir=options.workdir)
            say(f"making a {options.size / 2**30:g} GiB {options.pattern} image ({options.fill:.0%} data)")
            synthetic = make_image(folder, size=options.size, fill=options.fill, pattern=options.pattern,
                                   seed=options.seed)
            source = str(synthetic.path)
            info = synthetic.to_dict()
            info.pop("path")
        sources = [source]
        if options.disks > 1:
            folder = folder or tempfile.mkdtemp(prefix="vhdupload-bench-", dir=options.workdir)
            data_size = data_disk_size(info["size"])
            say(f"making {options.disks - 1} data disk(s) of {data_size / 2**30:g} GiB ({DATA_DISK_PATTERN}, "
                f"{DATA_DISK_FILL:.0%} data)")
            for i in range(1, options.disks):
                place = os.path.join(folder, f"disk{i}")
                os.makedirs(place, exist_ok=True)
                extra = make_image(place, size=data_size, fill=DATA_DISK_FILL, pattern=DATA_DISK_PATTERN,
                                   seed=options.seed + i)
                sources.append(str(extra.path))
                info["size"] += extra.virtual_size
                info["data_bytes"] += extra.data_bytes
            info["fill"] = round(info["data_bytes"] / info["size"], 4)
            info["pattern"] = f"{options.disks} disks side by side: {info['pattern']} + {DATA_DISK_PATTERN}"
        report = BenchReport(image=info)
        data_bytes, size = info["data_bytes"], info["size"]

        def blob_name(run: str, disk: int) -> str:
            return f"vhdupload-bench-{tag}-{run}{f'-d{disk}' if len(sources) > 1 else ''}.vhd"

        def record(tool: str, threads: int | None, seconds: float, parts: Sequence[_Counted]) -> None:
            """One run of ``tool``: ``parts`` are its disks' counts (one each, sent side by side)."""
            run = Run(tool=tool, threads=threads, seconds=seconds,
                      data_rate=data_bytes / seconds if seconds > 0 else 0.0,
                      effective_rate=size / seconds if seconds > 0 else 0.0,
                      bytes_sent=sum(p.bytes_sent for p in parts), requests=sum(p.requests for p in parts),
                      retries=sum(p.retries for p in parts))
            report.runs.append(run)
            say(f"{tool} threads={threads if threads is not None else 'auto'}: {seconds:.2f} s, "
                f"{run.data_rate / 2**20:.1f} MiB/s of data")

        for repeat in range(options.repeat):
            for threads in options.threads:
                if cancel.is_set():
                    raise KeyboardInterrupt
                clients = [client_for(blob_name(f"vhdupload-t{threads or 'auto'}-r{repeat}", i))
                           for i in range(len(sources))]
                made.extend(clients)
                settings = TransferSettings(threads=threads, timeout=options.timeout, max_retries=options.max_retries)
                start = time.perf_counter()
                results = _upload_set(sources, clients, settings=settings, cancel=cancel)
                seconds = time.perf_counter() - start
                record("vhdupload", threads, seconds, results)
            if "sdk" in options.compare:
                counted_runs = []
                for i, path in enumerate(sources):
                    kwargs, counter = competitors.sdk_counting_options()
                    client = client_for(blob_name(f"sdk-t{top}-r{repeat}", i), **kwargs)
                    made.append(client)
                    counted_runs.append(partial(competitors.run_sdk, path, blob_client=client, counter=counter,
                                                concurrency=top))
                start = time.perf_counter()
                counted = _side_by_side(counted_runs)
                record("sdk", top, time.perf_counter() - start, counted)
            if "azcopy" in options.compare:
                binary = options.azcopy or competitors.find_azcopy()
                if binary is None:
                    if repeat == 0:
                        report.notes.append("azcopy: no azcopy binary on PATH, so it was not compared")
                    continue
                key = (options.account_key or _key_of(options.connection_string)
                       or (competitors_key_for_emulator() if options.emulator else None)
                       or _key_of(os.environ.get("AZURE_STORAGE_CONNECTION_STRING"))
                       or os.environ.get("AZURE_STORAGE_KEY"))
                azcopy_runs = []
                try:
                    for i, path in enumerate(sources):
                        client = client_for(blob_name(f"azcopy-r{repeat}", i))
                        made.append(client)
                        url = competitors.azcopy_url(client, account_key=key)
                        azcopy_runs.append(partial(competitors.run_azcopy, binary, path, url=url))
                except InputError as exc:
                    if repeat == 0:
                        report.notes.append(f"azcopy: not compared: {exc}")
                    continue
                start = time.perf_counter()
                counted = _side_by_side(azcopy_runs)
                record("azcopy", None, time.perf_counter() - start, counted)
        if "sdk" in options.compare and options.image and _is_dynamic(options.image):
            report.notes.append("sdk and azcopy send a dynamic VHD as it is, which Azure refuses as a disk")
        return report
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if not options.keep:
            _clean_up(made, container_client=container_client, drop_container=not container_existed)


def _upload_set(sources: list[str], clients: list[Any], *, settings: TransferSettings,
                cancel: threading.Event) -> list[UploadResult]:
    """Upload each source to its client, all at once, sharing the link the way ``publish``
    shares it among a VM's disks (:func:`vhdupload.transfer.set_pacing.set_settings`)."""
    weights = [_allocated(path) for path in sources]
    return _side_by_side([partial(upload, path, PageBlob.from_client(client), cancel=cancel, settings=each)
                          for path, client, each in zip(sources, clients, set_settings(settings, weights))])


def _side_by_side(jobs: Sequence[Callable[[], R]]) -> list[R]:
    """Run ``jobs`` at once, one thread each; their results in order, or the first error once
    all have ended."""
    if len(jobs) == 1:
        return [jobs[0]()]
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = jobs[index]()
        except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"vhdupload-bench-{i}", daemon=True)
               for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _allocated(path: str) -> int:
    """Bytes a sparse file holds on disk: what its upload may send."""
    return os.stat(path).st_blocks * 512


def _clean_up(clients: list[Any], *, container_client: Any, drop_container: bool) -> None:
    """Delete every blob made (breaking a lease an interrupted upload left), then the container
    if this bench created it. Best effort: a blob that was never created is simply absent."""
    from azure.storage.blob import BlobLeaseClient

    for client in clients:
        try:
            client.delete_blob()
        except Exception:  # noqa: BLE001 - absent, or leased
            try:
                BlobLeaseClient(client).break_lease(lease_break_period=0)
                client.delete_blob()
            except Exception:  # noqa: BLE001 - absent: nothing to clean
                pass
    if drop_container:
        try:
            container_client.delete_container()
        except Exception:  # noqa: BLE001
            pass


def _key_of(connection_string: str | None) -> str | None:
    if not connection_string:
        return None
    for item in connection_string.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == "accountkey":
            return value.strip()
    return None


def competitors_key_for_emulator() -> str:
    return EMULATOR_KEY


def _is_dynamic(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"conectix"  # a dynamic VHD starts with a footer copy
    except OSError:
        return False

