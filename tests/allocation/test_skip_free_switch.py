"""A rerun with ``skip_free`` switched, over any data, free space and interruption point: the
destination ends byte for byte as one uninterrupted run of the last kind leaves it, with that
kind and its CRC64 recorded; also when the switched rerun is itself interrupted and either
kind finishes it. The upload session runs over the in-memory destination, its free space given
directly (1 KiB pieces included, so pages are part free), so Hypothesis can look everywhere."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from tests.support.memory_destination import MemoryDestination
from vhdupload import TransferSettings, crc64, open_disk
from vhdupload.allocation import WithoutFreeSpace
from vhdupload.azure.state import source_identity, stat_token
from vhdupload.errors import DestinationConflictError, VhdUploadError
from vhdupload.planning import RangeSet
from vhdupload.source_proof import whole_crc
from vhdupload.source_checks import OtherWay
from vhdupload.upload_session import UploadRequest, UploadSession

MIB = 1024 * 1024
SIZE = 10 * MIB  # three 4 MiB chunks: the resume watermark moves twice
SECTOR = 512


def _runs(draw, count: int, longest: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(count):
        start = draw(st.integers(0, SIZE // SECTOR - 1)) * SECTOR
        out.append((start, min(SIZE, start + draw(st.integers(1, longest // SECTOR)) * SECTOR)))
    return out


@st.composite
def cases(draw):
    data = _runs(draw, draw(st.integers(4, 16)), MIB)
    free = _runs(draw, draw(st.integers(1, 6)), 2 * MIB)
    free += [(lo, lo + 1024) for lo, _hi in _runs(draw, 4, SECTOR)]  # pieces of a page, as 1 KiB blocks free
    first = draw(st.booleans())
    return {
        "data": data, "free": free, "first": first, "seed": draw(st.integers(0, 2**32 - 1)),
        "stop_after": draw(st.integers(1, 4)),  # Put Pages of the first run before it fails
        "again_after": draw(st.one_of(st.none(), st.integers(1, 4))),  # the switched rerun fails too
        "third": draw(st.booleans()),  # then a third run of this kind finishes it
        "max_gap": draw(st.sampled_from([0, 64 * 1024])),
    }


def _source(tmp_path, case) -> bytes:
    import random

    rng = random.Random(case["seed"])
    path = tmp_path / "d.img"
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for lo, hi in case["data"]:
            f.seek(lo)
            f.write(rng.randbytes(hi - lo))
    return path


def _session(whole, view: WithoutFreeSpace, dest: MemoryDestination, *, skip_free: bool, max_gap: int) -> UploadSession:
    """What vhdupload.upload builds, with the free space given rather than read from file systems."""
    image = dest.layout(view if skip_free else whole, resize=True)

    def other_way() -> OtherWay:
        return OtherWay(image=dataclasses.replace(image, disk=whole if skip_free else view),
                        differ=RangeSet(view.touched_pages))

    request = UploadRequest(image=image, identity=source_identity(whole), stats=stat_token(whole.fingerprint_files()),
                            overwrite=False, wait=False, trust_stat=False, skip_free=skip_free, other_way=other_way)
    return UploadSession(dest=dest, request=request, cancel=threading.Event(),
                         settings=TransferSettings(threads=1, max_retries=0, max_gap=max_gap))


def _run(whole, view, dest, *, skip_free: bool, max_gap: int, fail_after: int | None) -> bool:
    """One upload; True when it finished, False when the destination failed it on purpose."""
    dest.fail_after = None if fail_after is None else len(dest.writes) + fail_after
    try:
        _session(whole, view, dest, skip_free=skip_free, max_gap=max_gap).run(progress=None, started=time.monotonic())
        return True
    except VhdUploadError:
        return False
    finally:
        dest.fail_after = None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_a_rerun_with_the_flag_switched_ends_as_one_run_of_its_kind(tmp_path, case):
    path = _source(tmp_path, case)
    with open_disk(path, raw=True) as whole:
        view = WithoutFreeSpace(whole, case["free"])
        kinds = [case["first"], not case["first"]]
        dest = MemoryDestination()
        if _run(whole, view, dest, skip_free=kinds[0], max_gap=case["max_gap"], fail_after=case["stop_after"]):
            # finished: a switched rerun takes it as done only when it holds that way's very bytes
            before = dest.image()
            same = (view if kinds[1] else whole).read(0, SIZE) == before[:SIZE]
            event(f"the first run finished, the same bytes either way: {same}")
            try:
                _session(whole, view, dest, skip_free=kinds[1], max_gap=case["max_gap"]).run(
                    progress=None, started=time.monotonic())
                assert same
            except DestinationConflictError:
                assert not same
            assert dest.image() == before
            return
        last = kinds[1]
        if not _run(whole, view, dest, skip_free=last, max_gap=case["max_gap"], fail_after=case["again_after"]):
            last = case["third"]  # the switched rerun failed too: either kind finishes it
            assert _run(whole, view, dest, skip_free=last, max_gap=case["max_gap"], fail_after=None)
            event("the switched rerun failed, finished " + ("the first way" if last == kinds[0] else "switched"))
        else:
            event("finished switched")
        expected = (view if last else whole).read(0, SIZE)
        held = dest.image()
        assert held[:SIZE] == expected and not any(held[SIZE:-512])
        assert dest.state is not None and dest.state.complete and dest.state.skip_free is last
        image = dataclasses.replace(dest.layout(view if last else whole, resize=True), footer=held[-512:])
        assert dest.state.crc64 == crc64.to_hex(whole_crc(image))


def test_a_finished_upload_made_the_other_way_is_done_only_if_it_holds_the_same_bytes(tmp_path):
    """Free space that reads zeros anyway (here: where no data lies) leaves the same bytes either
    way: a rerun switched sends nothing. Free space holding data does not: refused, with the fix."""
    case = {"data": [(0, MIB), (5 * MIB, 6 * MIB)], "seed": 7}
    path = _source(tmp_path, case)
    with open_disk(path, raw=True) as whole:
        for first in (False, True):
            blank = WithoutFreeSpace(whole, [(2 * MIB, 4 * MIB)])  # free, and zeros
            dest = MemoryDestination()
            assert _run(whole, blank, dest, skip_free=first, max_gap=0, fail_after=None)
            again = _session(whole, blank, dest, skip_free=not first, max_gap=0).run(progress=None,
                                                                                        started=time.monotonic())
            assert again.already_complete and again.bytes_sent == 0 and dest.state.skip_free is first
            assert any("the very bytes" in note for note in again.notes)

            deleted = WithoutFreeSpace(whole, [(MIB // 2, 2 * MIB)])  # free, but holding data
            dest = MemoryDestination()
            assert _run(whole, deleted, dest, skip_free=first, max_gap=0, fail_after=None)
            with pytest.raises(DestinationConflictError, match="--overwrite"):
                _session(whole, deleted, dest, skip_free=not first, max_gap=0).run(progress=None,
                                                                                    started=time.monotonic())
