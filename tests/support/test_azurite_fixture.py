"""The Azurite fixture serves page blobs: the ground the storage tests stand on."""

from azure.storage.blob import BlobServiceClient


def test_azurite_serves_a_page_blob(azurite, container_name):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(container_name)
    blob = container.get_blob_client("disk.vhd")
    blob.create_page_blob(size=1024 * 1024)
    blob.upload_page(b"\x5a" * 4096, offset=8192, length=4096)
    ranges = [(r.start, r.end) for r in blob.list_page_ranges()]
    assert ranges == [(8192, 8192 + 4095)]  # the service's ranges are inclusive
    assert blob.download_blob(offset=8192, length=4096).readall() == b"\x5a" * 4096
    assert blob.get_blob_properties().blob_type == "PageBlob"
