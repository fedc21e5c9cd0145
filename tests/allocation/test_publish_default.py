"""``skip_free`` in a publish manifest: the default for a generalized image's disks, not for a
specialized one's; a disk may say otherwise; anything but true/false is a problem."""

from __future__ import annotations

import pytest

from vhdupload.errors import PublishCheckError
from vhdupload.publish import load_manifest

MANIFEST = """\
[image]
name = "app"
resource_group = "rg"
location = "westeurope"
os_type = "Linux"
{image}

[storage]
managed_disks = true

[[disk]]
path = "os.vhd"
role = "os"

[[disk]]
path = "data.vhd"
lun = 0
{data}
"""


def plan(tmp_path, image: str = "", data: str = ""):
    path = tmp_path / "m.toml"
    path.write_text(MANIFEST.format(image=image, data=data))
    return load_manifest(path)


def test_a_generalized_images_disks_skip_free_space_by_default(tmp_path):
    made = plan(tmp_path)
    assert [made.skips_free(d) for d in made.disks] == [True, True]


def test_a_specialized_images_disks_are_sent_bit_for_bit_unless_a_disk_asks(tmp_path):
    made = plan(tmp_path, image='kind = "gallery-version"\nos_state = "specialized"\ngallery = "g"\n'
                                 'definition = "d"\nversion = "1.0.0"', data="skip_free = true")
    assert [made.skips_free(d) for d in made.disks] == [False, True]


def test_a_disk_may_keep_its_free_space(tmp_path):
    made = plan(tmp_path, data="skip_free = false")
    assert [made.skips_free(d) for d in made.disks] == [True, False]


def test_skip_free_must_be_true_or_false(tmp_path):
    with pytest.raises(PublishCheckError, match=r"\[\[disk\]\] #2: skip_free = 'yes' is not true or false"):
        plan(tmp_path, data='skip_free = "yes"')
