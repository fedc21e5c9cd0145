"""Names that would change the request's URL, or that Azure refuses, are refused before anything
is sent (issue 22, item 10): ``..`` as an image name sent a PUT to ``…/providers/Microsoft.Compute/``
and reported it created; ``disk_prefix = "a/b/"`` said "not a blob URL".

The rules: Microsoft's "Naming rules and restrictions for Azure resources" (Microsoft.Compute,
Microsoft.Resources), see vhdupload/azure/resource_names.py.
"""

from __future__ import annotations

import pytest

from tests.support.registration import LOC, RG, SUB, FakeCredential
from vhdupload import ArmConnection, ManagedDisk
from vhdupload.azure.resource_names import RULES, name_problem
from vhdupload.cli import main
from vhdupload.errors import InputError, PublishCheckError
from vhdupload.publish.manifest import parse_manifest
from vhdupload.registration import CaptureSpec, DiskImportSpec, GalleryVersionSpec, ImageSpec, Registrar

GOOD = {
    "managed disk": ["d", "web-os_disk.1", "a_", "X" * 80],
    "image": ["web", "web.v1-2_", "9"],
    "gallery": ["gal", "my_gallery.v1", "G1"],
    "gallery image definition": ["def", "ubuntu-22.04_lts", "d1"],
    "gallery image version": ["1.0.0", "0.0.1", "2147483647.0.0"],
    "resource group": ["images-rg", "rg(1).x", "groupe_é", "r" * 90],
    "virtual machine": ["vm1", "web-01", "a.b"],
}
BAD = {
    "managed disk": ["", "..", ".", "a/b", "a-", "a.", "-a", "_a", "a b", "X" * 81, "a\nb", "a\x1b[31m", "é"],
    "image": ["..", "a/b/", "a#b", "a?b", "a%2Fb"],
    "gallery": ["gal-1", "a.", "_a", "a/b"],
    "gallery image definition": ["d_", "-d", "d/e", ".."],
    "gallery image version": ["1.0", "1.0.0.0", "v1.0.0", "1.0.2147483648", "1..0", "1.0.-1", "..", "1.0.0 "],
    "resource group": ["rg.", "a/b", "a b", "a\nb", "r" * 91, "a#b"],
    "virtual machine": ["_vm", "vm.", "vm-", "a/b", "a b", "x" * 65],
}


@pytest.mark.parametrize("kind", sorted(RULES))
def test_names_azure_takes_pass_and_others_are_refused_in_words(kind):
    for name in GOOD[kind]:
        assert name_problem(kind, name) is None, (kind, name)
    for name in BAD[kind]:
        problem = name_problem(kind, name)
        assert problem and f"the {kind} name" in problem, (kind, name)
        assert "\n" not in problem and "\x1b" not in problem  # the name is shown escaped


def test_a_managed_disk_with_a_path_in_its_name_is_refused(compute):
    arm = ArmConnection.from_client(compute)
    for name in ("a/b", "..", "disk-"):
        with pytest.raises(InputError, match="the managed disk name"):
            ManagedDisk(name, resource_group=RG, arm=arm, location=LOC)
    with pytest.raises(InputError, match="the resource group name"):
        ManagedDisk("d", resource_group="rg/..", arm=arm, location=LOC)


def test_the_registrar_refuses_bad_names_before_any_request(arm, compute, blobs):
    registrar = Registrar(ArmConnection.from_client(compute), blob_client_factory=blobs.factory())
    url = blobs.page_blob("os.vhd")
    specs = [
        ImageSpec(name="..", resource_group=RG, location=LOC, os_disk=url, os_type="linux"),
        ImageSpec(name="web", resource_group="a/b", location=LOC, os_disk=url, os_type="linux"),
        CaptureSpec(name="img", resource_group=RG, source_vm="../vm"),
        GalleryVersionSpec(gallery="gal", image_definition="def", version="1.0.4294967296", resource_group=RG,
                           location=LOC, os_disk=url, os_type="linux"),
        GalleryVersionSpec(gallery="gal/x", image_definition="def", version="1.0.0", resource_group=RG,
                           location=LOC, os_disk=url, os_type="linux"),
        DiskImportSpec(name="disk.", resource_group=RG, location=LOC, source=url),
    ]
    for spec in specs:
        with pytest.raises(InputError, match="name .* (is not one Azure takes|has a part over|is not MAJOR.MINOR.PATCH)"):
            registrar.plan(spec)
    assert arm.arm_calls() == []  # not even a GET


def test_register_image_dot_dot_is_one_error_line_and_no_request(arm, stub_az, blobs, capsys):
    url = blobs.page_blob("os.vhd")
    code = main(["register", "image", "..", "-g", RG, "-l", LOC, "--os-disk", url, "--os-type", "linux",
                 "--subscription", SUB, "--arm-endpoint", arm.url, "--skip-preflight"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.splitlines() == [f"error: the image name '..' is not one Azure takes: use {RULES['image'].says}"]
    assert arm.writes() == []


def _manifest(storage: dict, disks: list[dict], **image) -> dict:
    return {"image": {"name": "web", "resource_group": RG, "location": LOC, "os_type": "linux", **image},
            "storage": storage, "disk": disks}


def test_publish_manifest_names_are_checked_with_the_plan(tmp_path):
    with pytest.raises(PublishCheckError) as caught:
        parse_manifest(_manifest({"managed_disks": True, "disk_prefix": "a/b/"},
                                 [{"path": "os.vhd", "role": "os"}]))
    assert any("[[disk]] #1: the managed disk name 'a/b/os'" in p and "disk_prefix" in p for p in caught.value.problems)
    with pytest.raises(PublishCheckError) as caught:
        parse_manifest(_manifest({"container_url": "https://a.blob.core.windows.net/c"},
                                 [{"path": "os.vhd", "role": "os"}, {"path": "d.vhd", "lun": 0, "blob": "x/../y.vhd"}],
                                 name=".."))
    problems = caught.value.problems
    assert any("[image]: the image name '..'" in p for p in problems), problems
    assert any("[[disk]] #2: the blob name 'x/../y.vhd' has a '..' segment" in p for p in problems), problems
    with pytest.raises(PublishCheckError) as caught:
        parse_manifest(_manifest({"container_url": "https://a.blob.core.windows.net/c"}, [{"path": "os.vhd", "role": "os"}],
                                 kind="gallery-version", gallery="g-1", definition="d", version="1.0",
                                 publisher="p", offer="o", sku="s"))
    problems = caught.value.problems
    assert any("the gallery name 'g-1'" in p for p in problems) and any("the gallery image version name '1.0' is not MAJOR" in p
                                                                         for p in problems), problems


def test_a_fake_credential_is_never_asked_for_a_bad_name(compute):
    # ManagedDisk checks in __post_init__: no client is built, no token asked
    credential = FakeCredential()
    with pytest.raises(InputError):
        ManagedDisk("..", resource_group=RG, arm=ArmConnection(SUB, credential=credential), location=LOC)
    assert credential.scopes == []
