"""OVAs read in place: the OVF's disks in the VM's order, each member a VMDK read by offset."""

from __future__ import annotations

import pytest

from tests.vhdx.conftest import assert_same_as_raw, qemu_img, to_raw, write_runs
from vhdupload import open_disk
from vhdupload.errors import CorruptVhdError, InputError
from vhdupload.ova import list_disks

from .build import make_ova, ovf_text

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def vmdks(tmp_path_factory):
    """Two streamOptimized VMDKs made by qemu-img (8 MiB + 1 sector, 3 MiB) and their raw truth."""
    where = tmp_path_factory.mktemp("ova")
    made = {}
    for name, size, runs in (("os", 8 * MIB + 512, [(0, 70000), (5 * MIB, 200000)]), ("data", 3 * MIB, [(MIB, 5)])):
        raw = where / f"{name}.raw"
        write_runs(raw, size, runs)
        image = where / f"{name}.vmdk"
        qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, image)
        made[name] = (image, raw, size)
    return made


def _ova(tmp_path, vmdks, **ovf_options):
    os_image, _, os_size = vmdks["os"]
    data_image, _, data_size = vmdks["data"]
    # DiskSection lists the data disk first; the hardware puts the OS disk at address 0
    ovf = ovf_text([("app-disk2.vmdk", data_size, 1), ("app-disk1.vmdk", os_size, 0)], **ovf_options)
    return make_ova(tmp_path / "app.ova", ovf, [("app-disk1.vmdk", os_image), ("app-disk2.vmdk", data_image)])


def test_disks_in_the_vms_order_with_roles(tmp_path, vmdks):
    ova = _ova(tmp_path, vmdks)
    disks = list_disks(ova)
    assert [(d.member, d.role, d.lun) for d in disks] == [("app-disk1.vmdk", "os", None), ("app-disk2.vmdk", "data", 0)]
    assert disks[0].address == "controller 0, address 0"


@pytest.mark.parametrize("member, key", [("app-disk1.vmdk", "os"), ("app-disk2.vmdk", "data")])
def test_a_member_reads_as_qemu_reads_the_vmdk(tmp_path, vmdks, member, key):
    ova = _ova(tmp_path, vmdks)
    image, _, _ = vmdks[key]
    truth = to_raw(image, tmp_path / "truth.raw", fmt="vmdk")
    with open_disk(ova / member) as disk:
        assert disk.path == ova / member
        assert_same_as_raw(disk, truth)
        assert disk.fingerprint_files()[0].st_size == ova.stat().st_size  # the archive is what may change


def test_capacity_in_gib_units(tmp_path, vmdks):
    image, _, _ = vmdks["data"]
    ovf = ovf_text([("d.vmdk", 3 * MIB, 0)], units="byte * 2^20", capacity_of=lambda c: c // MIB)
    ova = make_ova(tmp_path / "one.ova", ovf, [("d.vmdk", image)])
    with open_disk(ova) as disk:  # one disk: the archive itself opens it
        assert disk.virtual_size == 3 * MIB


def test_a_capacity_that_disagrees_with_the_disk_is_an_error(tmp_path, vmdks):
    ova = _ova(tmp_path, vmdks, capacity_of=lambda c: c + 512)
    with pytest.raises(CorruptVhdError, match="ovf:capacity"):
        open_disk(ova / "app-disk1.vmdk")


def test_several_disks_and_missing_members_are_named(tmp_path, vmdks):
    ova = _ova(tmp_path, vmdks)
    with pytest.raises(InputError, match="holds 2 disks.*app-disk1.vmdk"):
        open_disk(ova)
    with pytest.raises(InputError, match="no member 'nope.vmdk'.*app-disk1.vmdk, app-disk2.vmdk"):
        open_disk(ova / "nope.vmdk")


def test_a_doctype_is_refused(tmp_path, vmdks):
    image, _, size = vmdks["data"]
    ovf = ovf_text([("d.vmdk", size, 0)]).replace("<Envelope", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<Envelope', 1)
    ova = make_ova(tmp_path / "evil.ova", ovf, [("d.vmdk", image)])
    with pytest.raises(CorruptVhdError, match="DOCTYPE"):
        open_disk(ova / "d.vmdk")


def test_not_a_tar_and_no_ovf(tmp_path, vmdks):
    bogus = tmp_path / "bogus.ova"
    bogus.write_bytes(b"\x01" * 4096)
    with pytest.raises(CorruptVhdError):
        open_disk(bogus / "x.vmdk")
    image, _, _ = vmdks["data"]
    import tarfile

    with tarfile.open(tmp_path / "no-ovf.ova", "w") as tar:
        tar.add(image, arcname="d.vmdk")
    with pytest.raises(CorruptVhdError, match="no .ovf"):
        open_disk(tmp_path / "no-ovf.ova" / "d.vmdk")


def test_fuzzed_archive_and_ovf_fail_cleanly(tmp_path, vmdks):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from vhdupload.errors import FormatError

    image, _, size = vmdks["data"]
    good = make_ova(tmp_path / "good.ova", ovf_text([("d.vmdk", size, 0)]), [("d.vmdk", image)]).read_bytes()
    ovf_end = good.index(b"</Envelope>") + 12

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def check(data):
        raw = bytearray(good)
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, ovf_end))] = data.draw(st.integers(0, 255))
        path = tmp_path / "fuzz.ova"
        path.write_bytes(bytes(raw))
        try:
            list_disks(path)
            with open_disk(path / "d.vmdk") as disk:
                disk.read(0, 4096)
        except (FormatError, InputError) as exc:
            assert "\n" not in str(exc)

    check()


def test_unicode_digits_in_the_ovf_are_not_numbers(tmp_path, vmdks):
    image, _, size = vmdks["data"]
    ovf = ovf_text([("d.vmdk", size, 0)]).replace(f'ovf:capacity="{size}"', 'ovf:capacity="3²"')
    with pytest.raises(CorruptVhdError, match="not a whole number"):
        list_disks(make_ova(tmp_path / "u.ova", ovf, [("d.vmdk", image)]))


def test_a_compressed_file_reference_is_refused_with_the_fix(tmp_path, vmdks):
    image, _, size = vmdks["data"]
    ovf = ovf_text([("d.vmdk", size, 0)]).replace('ovf:id="file0"', 'ovf:id="file0" ovf:compression="gzip"')
    with pytest.raises(InputError, match="stored gzip.*cannot be read in place"):
        open_disk(make_ova(tmp_path / "gz.ova", ovf, [("d.vmdk", image)]) / "d.vmdk")
