"""OS errors met while resolving a parent are the child's format problem: one short line naming
the child, the locator and the reason (issue 11, part 3)."""

from __future__ import annotations

import os

import pytest

from vhdupload.cli import main
from vhdupload.errors import ParentChainError
from vhdupload import open_disk

from .builders import MIB, build_differencing, build_dynamic

SIZE = 4 * MIB


def _assert_short(message: str) -> None:
    assert "[Errno" not in message and "Errno" not in message
    assert message.count("\n") <= 1, message
    assert len(message.encode()) <= 400, (len(message.encode()), message)
    for word in message.split():
        assert len(word) <= 100, word  # no name longer than 80 characters (plus quotes/punctuation)


def test_a_parent_name_too_long_for_the_file_system(tmp_path, capsys):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE)
    long_name = "a" * 255 + ".vhd"  # legal in the 512-byte field, too long for a POSIX name
    child = build_differencing(tmp_path / "c.vhd", parent=parent, parent_name=long_name,
                               locators={"W2ru": ".\\" + long_name, "W2ku": "C:\\disks\\" + long_name})
    with pytest.raises(ParentChainError) as caught:
        open_disk(child)
    message = str(caught.value)
    _assert_short(message)
    assert str(child) in message and "W2ru locator" in message and "file name too long" in message
    assert main(["inspect", str(child)]) == 1
    err = capsys.readouterr().err
    _assert_short(err.removeprefix("error: ").rstrip("\n"))
    assert err.startswith("error: ") and err.count("\n") == 1


def test_a_long_child_path_and_names_are_shortened(tmp_path):
    deep = tmp_path
    for i in range(6):
        deep = deep / (f"d{i}" + "é" * 40)
    deep.mkdir(parents=True)
    parent = build_dynamic(deep / "p.vhd", virtual_size=SIZE)
    child = build_differencing(deep / "c.vhd", parent=parent, parent_name="ü" * 250,
                               locators={"W2ru": "ü" * 250})
    with pytest.raises(ParentChainError) as caught:
        open_disk(child)
    _assert_short(str(caught.value))
    assert "…" in str(caught.value)


def test_a_parent_directory_that_cannot_be_read(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    parent = build_dynamic(tmp_path / "base" / "p.vhd", virtual_size=SIZE)
    child = build_differencing(tmp_path / "c.vhd", parent=parent, locators=("W2ru",))
    real_stat = os.stat

    def refusing_stat(path, *args, **kwargs):
        if "base" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refusing_stat)
    with pytest.raises(ParentChainError) as caught:
        open_disk(child)
    message = str(caught.value)
    _assert_short(message)
    assert "W2ru locator" in message and "permission denied" in message and str(child) in message


def test_a_parent_file_that_cannot_be_opened(tmp_path, monkeypatch):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE)
    child = build_differencing(tmp_path / "c.vhd", parent=parent)
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if str(path).endswith("p.vhd"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(ParentChainError, match="permission denied") as caught:
        open_disk(child)
    _assert_short(str(caught.value))


def test_an_unusable_locator_does_not_hide_a_parent_found_by_name(tmp_path):
    parent = build_dynamic(tmp_path / "p.vhd", virtual_size=SIZE, writes={0: b"P"})
    child = build_differencing(tmp_path / "c.vhd", parent=parent, parent_name="p.vhd",
                               locators={"W2ru": "x" * 300})
    with open_disk(child) as disk:
        assert disk.read(0, 1) == b"P"

