"""Build OVAs for tests: an OVF written here and VMDKs made by qemu-img, packed with tarfile."""

from __future__ import annotations

import io
import pathlib
import tarfile
from collections.abc import Sequence

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
{files}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
{disks}
  </DiskSection>
  <VirtualSystem ovf:id="app">
    <Info>A virtual machine</Info>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <Item>
        <rasd:ElementName>CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
{items}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def ovf_text(disks: Sequence[tuple[str, int, int]], *, units: str = "byte", capacity_of=None) -> str:
    """An OVF for ``disks`` (member name, capacity in bytes, AddressOnParent), in that DiskSection order."""
    files, entries, items = [], [], []
    for i, (name, capacity, address) in enumerate(disks):
        value = capacity if capacity_of is None else capacity_of(capacity)
        files.append(f'    <File ovf:href="{name}" ovf:id="file{i}"/>')
        entries.append(
            f'    <Disk ovf:capacity="{value}" ovf:capacityAllocationUnits="{units}" ovf:diskId="vmdisk{i}" '
            f'ovf:fileRef="file{i}" '
            'ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>'
        )
        items.append(
            f"      <Item>\n        <rasd:AddressOnParent>{address}</rasd:AddressOnParent>\n"
            f"        <rasd:ElementName>disk{i}</rasd:ElementName>\n"
            f"        <rasd:HostResource>ovf:/disk/vmdisk{i}</rasd:HostResource>\n"
            f"        <rasd:InstanceID>{10 + i}</rasd:InstanceID>\n        <rasd:Parent>3</rasd:Parent>\n"
            "        <rasd:ResourceType>17</rasd:ResourceType>\n      </Item>"
        )
    return ENVELOPE.format(files="\n".join(files), disks="\n".join(entries), items="\n".join(items))


def make_ova(path: pathlib.Path, ovf: str | bytes, members: Sequence[tuple[str, pathlib.Path]]) -> pathlib.Path:
    """``path``: a tar of ``app.ovf`` (first, as the OVF standard wants) and each (name, file)."""
    data = ovf.encode() if isinstance(ovf, str) else ovf
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("app.ovf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, file in members:
            tar.add(file, arcname=name)
    return path
