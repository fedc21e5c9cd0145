"""libvhdi (``pyvhdi``) as an independent reader of VHD chains, for tests.

Trust it only where writes are 4 KiB-aligned: it misreads sector-bitmap bytes that are only
partly set (docs: /work/shared/DESIGN.md)."""

from __future__ import annotations


def read_chain(chain) -> bytes:
    """The whole disk as libvhdi reads the differencing ``chain`` (paths, child first)."""
    import pyvhdi

    files = []
    try:
        for path in chain:
            handle = pyvhdi.file()
            handle.open(str(path))
            files.append(handle)
        for child, parent in zip(files, files[1:]):
            child.set_parent(parent)
        return files[0].read_buffer_at_offset(files[0].get_media_size(), 0)
    finally:
        for handle in files:
            handle.close()
