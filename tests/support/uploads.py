"""Helpers for the tests that upload: Azurite clients and page-blob destinations, sparse sources,
images made by qemu-img, read-back, the CLI in a subprocess. (The fixtures ``conn`` and ``dest`` are in tests/conftest.py.)"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from azure.storage.blob import BlobClient

from tests.support.libvhdi import read_chain
from vhdupload import PageBlob
from vhdupload.azure.credentials import client_options


def blob_client(conn: str, dest: str, **options) -> BlobClient:
    container, name = dest.split("/", 1)
    return BlobClient.from_connection_string(conn, container, name, **(options or client_options(threads=4)))


def page_blob(conn: str, dest: str, **options) -> PageBlob:
    """The destination ``CONTAINER/NAME`` in the account of the connection string ``conn``
    (``options``: ``lease_seconds``, ``content_md5``), as :func:`vhdupload.upload` takes it."""
    container, name = dest.split("/", 1)
    return PageBlob.from_connection_string(conn, container, name, **options)


def read_blob(conn: str, dest: str) -> bytes:
    return blob_client(conn, dest).download_blob().readall()


def page_ranges(conn: str, dest: str) -> list[tuple[int, int]]:
    """Half-open ranges the blob holds (merged where adjacent)."""
    out: list[tuple[int, int]] = []
    for page in blob_client(conn, dest).list_page_ranges():
        start, stop = page.start, page.end + 1
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def write_random(path, size: int, *, runs: list[tuple[int, int]], seed: int = 1) -> bytes:
    """A sparse raw file of ``size`` bytes with random data in ``runs`` (offset, length);
    returns the whole content (for comparisons)."""
    rng = random.Random(seed)
    content = bytearray(size)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in runs:
            data = rng.randbytes(length)
            content[offset : offset + length] = data
            f.seek(offset)
            f.write(data)
    return bytes(content)


def qemu_img(*args) -> str:
    return subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True, text=True).stdout


def qemu_raw(path, tmp_path) -> bytes:
    """What qemu-img reads from a VHD: the ground truth for the blob's data region."""
    out = tmp_path / f"{os.path.basename(path)}.qemu.raw"
    qemu_img("convert", "-f", "vpc", "-O", "raw", path, out)
    return out.read_bytes()


def cli_command(*args: str) -> list[str]:
    """argv running the ``vhdupload`` CLI in a fresh interpreter (for subprocess tests). Ctrl-C is
    made a KeyboardInterrupt first, as the console script's entry does: a suite started in the
    background of a non-interactive shell hands its children SIGINT ignored."""
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from vhdupload.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, *args]


def libvhdi_read(chain) -> bytes:
    """The disk as libvhdi reads the differencing ``chain`` (child first); skips without pyvhdi."""
    pytest.importorskip("pyvhdi")
    return read_chain(chain)


def container_client(conn: str, dest: str):
    from azure.storage.blob import ContainerClient

    return ContainerClient.from_connection_string(conn, dest.split("/", 1)[0])
