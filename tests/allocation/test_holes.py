"""The disk an upload sees with ``skip_free``: free ranges read as zeros and are never read;
everything else is the source's, byte for byte."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vhdupload.allocation import WithoutFreeSpace
from vhdupload.disks import open_disk
from vhdupload.errors import InputError

SIZE = 16 * 1024



DATA = random.Random(5).randbytes(SIZE)


@pytest.fixture(scope="module")
def source():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.img"
        path.write_bytes(DATA)
        yield path


free_ranges = st.lists(st.tuples(st.integers(0, SIZE // 512), st.integers(0, 24)).map(
    lambda t: (t[0] * 512, min(SIZE, (t[0] + t[1]) * 512))), max_size=10)


@settings(max_examples=100, deadline=None)
@given(free=free_ranges, offset=st.integers(0, SIZE), length=st.integers(0, 20000))
def test_reads_are_the_source_outside_the_free_ranges_and_zeros_inside(source, free, offset, length):
    path, data = source, DATA
    length = min(length, SIZE - offset)
    view = WithoutFreeSpace(open_disk(path, raw=True), free)
    reads: list[tuple[int, int]] = []
    inner_read = view.inner.read
    view.inner.read = lambda o, n: (reads.append((o, n)), inner_read(o, n))[1]  # type: ignore[method-assign]
    with view:
        expected = bytearray(data[offset : offset + length])
        for lo, hi in free:
            for i in range(max(lo, offset), min(hi, offset + length)):
                expected[i - offset] = 0
        assert view.read(offset, length) == bytes(expected)
        for o, n in reads:  # nothing free was read
            assert n == 0 or not any(lo < o + n and o < hi for lo, hi in free if lo < hi)
        # the extents leave out every whole 4 KiB page of free bytes, and nothing else
        covered = {i for lo, hi in view.extents() for i in range(lo, hi)}
        freed = {i for lo, hi in free for i in range(lo, hi)}
        whole_pages = {i for page in range(0, SIZE, 4096) if set(range(page, page + 4096)) <= freed
                       for i in range(page, page + 4096)}
        assert covered == set(range(SIZE)) - whole_pages
        assert all(lo % 4096 == 0 or lo in (0,) or (lo - 1) not in whole_pages for lo, _ in view.extents())


def test_reads_outside_the_disk_are_refused_as_before(source):
    path = source
    with WithoutFreeSpace(open_disk(path, raw=True), [(0, 4096)]) as view:
        with pytest.raises(InputError):
            view.read(SIZE - 10, 20)
    with pytest.raises(InputError, match="closed"):
        view.read(0, 10)


def test_the_deleted_data_of_a_large_free_space_is_estimated_from_samples(tmp_path):
    """Past the budget, samples spread evenly: a quarter of the space holding data reads ~25 %."""
    from vhdupload.allocation import data_in_free_space

    path = tmp_path / "dense.img"
    block = 64 * 1024
    pattern = (b"\x01" * block + bytes(3 * block)) * 256  # 64 MiB, a quarter of it data
    path.write_bytes(pattern)
    with open_disk(path, raw=True) as disk:
        exact = data_in_free_space(disk, [(0, len(pattern))])
        estimate = data_in_free_space(disk, [(0, len(pattern))], budget=4 * 1024 * 1024)
    assert exact == len(pattern) // 4
    assert abs(estimate - exact) <= exact // 10
