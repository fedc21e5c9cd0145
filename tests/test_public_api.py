"""The public API stays small and documented: what ``vhdupload.__all__`` lists (issue 12), shaped
as destination values (``PageBlob``, ``ManagedDisk``, ``ArmConnection``) and functions written
once over them (``upload``, ``verify``, ``status``)."""

from __future__ import annotations

import importlib
import inspect
import pathlib

import pytest

import vhdupload
from vhdupload.errors import InputError

EXPECTED_PUBLIC = [
    "__version__",
    # errors
    "VhdUploadError", "InputError", "FormatError", "NotAzureReadyError", "StorageError", "DestinationConflictError",
    "CancelledError", "RegistrationError",
    # disks on this machine
    "open_disk", "VirtualDisk", "inspect_disk", "DiskReport", "convert_image", "ConvertResult",
    # where disks go
    "Destination", "PageBlob", "ManagedDisk", "ArmConnection", "client_options",
    # transfers, written once over any destination
    "TransferSettings", "AdaptiveConcurrency", "Progress", "upload", "UploadResult", "verify", "VerifyResult",
    "status", "UploadStatus",
    # registration
    "Registrar", "ImageSpec", "GalleryVersionSpec", "DiskImportSpec", "CaptureSpec", "DataDisk", "RegistrationPlan",
    "Registration", "TargetRegion", "ReplicationStatus", "Capabilities",
    # from files to an image in one step
    "publish", "PublishPlan", "PublishOptions", "PublishResult", "ImageTarget", "StorageTarget", "DiskSource",
    "DiskResult", "DiskProgress",
]
MAX_PUBLIC_NAMES = 49  # 46 after the redesign; #18 added the gallery's replication and the disk's capabilities
PUBLIC = list(vhdupload.__all__)
# Functions and classes: what a docstring documents (``__version__`` is a plain string).
DOCUMENTED = [name for name in PUBLIC if inspect.isfunction(getattr(vhdupload, name, None))
              or inspect.isclass(getattr(vhdupload, name, None))]

#: The entry points the redesign removed, with no compatibility shim left behind.
GONE_FROM_THE_PACKAGE = ["upload_vhd", "verify_upload", "upload_status", "upload_to_managed_disk", "verify_managed_disk",
                         "managed_disk_status", "ManagedDiskSpec", "resolve_blob_client"]
GONE_ELSEWHERE = [
    ("vhdupload.endpoints", "StorageCredentials"),
    ("vhdupload.endpoints", "destination_client"),
    ("vhdupload.destinations.page_blob", "PageBlobDestination"),
    ("vhdupload.destinations.managed_disk", "ManagedDiskDestination"),
    ("vhdupload.upload", "_Session"),
]
GONE_MODULES = ["vhdupload.managed_disks", "vhdupload.registration.arm"]


def test_at_most_forty_nine_public_names() -> None:
    assert len(PUBLIC) <= MAX_PUBLIC_NAMES, f"{len(PUBLIC)} public names: {PUBLIC}"


def test_the_public_names_are_the_redesigned_set() -> None:
    assert len(EXPECTED_PUBLIC) == MAX_PUBLIC_NAMES
    assert set(PUBLIC) == set(EXPECTED_PUBLIC), (
        f"missing: {sorted(set(EXPECTED_PUBLIC) - set(PUBLIC))}, unexpected: {sorted(set(PUBLIC) - set(EXPECTED_PUBLIC))}"
    )


def test_no_name_listed_twice() -> None:
    assert len(set(PUBLIC)) == len(PUBLIC), sorted(n for n in PUBLIC if PUBLIC.count(n) > 1)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_listed_name_exists(name: str) -> None:
    assert hasattr(vhdupload, name), f"vhdupload.__all__ lists {name!r}, which the package does not define"


def test_the_listed_names_are_functions_classes_or_the_version() -> None:
    others = [n for n in PUBLIC if n not in DOCUMENTED and n != "__version__"]
    assert not others, f"neither function nor class, so not checked for a docstring: {others}"


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_public_function_and_class_has_a_docstring(name: str) -> None:
    obj = getattr(vhdupload, name)
    # The object's own docstring: a class inheriting one (or a dataclass's generated signature
    # line) documents nothing about itself.
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if inspect.isclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
        doc = None  # what @dataclass writes when the class has none
    assert doc and doc.strip(), f"vhdupload.{name} has no docstring"


def test_the_package_ships_its_type_information() -> None:
    # py.typed is what tells mypy and pyright to use the package's annotations (PEP 561).
    assert (pathlib.Path(vhdupload.__file__).parent / "py.typed").is_file()


# -- the old entry points are gone ------------------------------------------------------------

@pytest.mark.parametrize("name", GONE_FROM_THE_PACKAGE)
def test_the_old_entry_points_are_gone(name: str) -> None:
    assert not hasattr(vhdupload, name), f"vhdupload.{name} should be gone"
    assert name not in PUBLIC


@pytest.mark.parametrize("module, name", GONE_ELSEWHERE, ids=lambda x: x)
def test_the_old_helpers_are_gone(module: str, name: str) -> None:
    assert not hasattr(importlib.import_module(module), name), f"{module}.{name} should be gone"


@pytest.mark.parametrize("module", GONE_MODULES)
def test_the_old_modules_are_gone(module: str) -> None:
    with pytest.raises(ImportError):
        importlib.import_module(module)


def test_make_compute_client_moved_but_is_still_reexported_by_registration() -> None:
    from vhdupload.azure.arm import make_compute_client
    from vhdupload.registration import make_compute_client as reexported

    assert reexported is make_compute_client


# -- the signatures of the entry points --------------------------------------------------------

def _parameters(function) -> list[tuple[str, str, object]]:
    """(name, kind, default) of each parameter, ``self`` left out."""
    return [(p.name, p.kind.name, p.default) for p in inspect.signature(function).parameters.values() if p.name != "self"]


EMPTY = inspect.Parameter.empty
POS = "POSITIONAL_OR_KEYWORD"
KW = "KEYWORD_ONLY"


def test_upload_verify_and_status_take_a_destination_and_keywords_only_after_it() -> None:
    assert _parameters(vhdupload.upload) == [
        ("source", POS, EMPTY), ("destination", POS, EMPTY),
        ("raw", KW, False), ("resize", KW, True), ("overwrite", KW, False), ("wait", KW, False),
        ("trust_stat", KW, False), ("skip_free", KW, False), ("settings", KW, None), ("progress", KW, None),
        ("cancel", KW, None),
    ]
    assert _parameters(vhdupload.verify) == [
        ("source", POS, EMPTY), ("destination", POS, EMPTY),
        ("raw", KW, False), ("resize", KW, True), ("settings", KW, None), ("cancel", KW, None), ("progress", KW, None),
        ("mode", KW, "full"),
        ("skip_free", KW, None),  # None: as the destination records it
    ]
    assert _parameters(vhdupload.status) == [("destination", POS, EMPTY), ("settings", KW, None)]


def test_the_options_that_moved_live_on_the_values_and_the_settings() -> None:
    # lease_seconds and content_md5 on the PageBlob; delete_on_failure on the ManagedDisk;
    # wait_timeout in the TransferSettings; the ARM connection in an ArmConnection.
    assert _parameters(vhdupload.PageBlob.__init__) == [
        ("url", POS, EMPTY), ("credential", KW, None), ("lease_seconds", KW, 60), ("content_md5", KW, False),
    ]
    for factory in (vhdupload.PageBlob.from_connection_string, vhdupload.PageBlob.from_client,
                    vhdupload.PageBlob.from_client_factory):
        names = [name for name, _, _ in _parameters(factory)]
        assert names[-2:] == ["lease_seconds", "content_md5"], factory.__name__
    assert [name for name, _, _ in _parameters(vhdupload.PageBlob.from_connection_string)][:3] == [
        "conn_str", "container", "blob"]
    disk = dict((name, (kind, default)) for name, kind, default in _parameters(vhdupload.ManagedDisk.__init__))
    assert list(disk)[:3] == ["name", "resource_group", "arm"]
    assert disk["name"][0] == POS and disk["resource_group"] == (KW, EMPTY) and disk["arm"] == (KW, EMPTY)
    assert disk["location"] == (KW, None) and disk["delete_on_failure"] == (KW, False)
    assert disk["hyper_v_generation"] == (KW, "auto")
    assert vhdupload.TransferSettings().wait_timeout == 900.0
    assert _parameters(vhdupload.ArmConnection.__init__) == [
        ("subscription_id", POS, EMPTY), ("credential", KW, None), ("cloud", KW, "public"), ("endpoint", KW, None),
        ("audience", KW, None), ("compute_client", KW, None), ("operation_timeout", KW, None), ("on_wait", KW, None),
    ]
    assert _parameters(vhdupload.ArmConnection.from_client) == [("compute_client", POS, EMPTY), ("credential", KW, None)]


def test_the_registrar_and_publish_take_an_arm_connection() -> None:
    assert _parameters(vhdupload.Registrar.__init__) == [
        ("arm", POS, EMPTY), ("blob_client_factory", KW, None), ("polling_interval", KW, None), ("read_only", KW, False),
    ]
    assert _parameters(vhdupload.publish) == [
        ("manifest_or_plan", POS, EMPTY), ("arm", KW, EMPTY), ("storage_credential", KW, None),
        ("connection_string", KW, None), ("blob_client_factory", KW, None), ("settings", KW, None),
        ("options", KW, None), ("progress", KW, None), ("cancel", KW, None), ("on_replication", KW, None),
    ]
    assert _parameters(vhdupload.PublishOptions.__init__) == [
        ("overwrite", KW, False), ("cleanup", KW, False), ("dry_run", KW, False), ("wait", KW, False),
        ("skip_guest_check", KW, False), ("lease_seconds", KW, None), ("polling_interval", KW, None),
        ("verify", KW, None), ("watch_replication", KW, True),
    ]


def test_one_upload_status_type_for_every_destination() -> None:
    from vhdupload.destinations import UploadStatus

    assert vhdupload.UploadStatus is UploadStatus
    fields = list(UploadStatus.__dataclass_fields__)
    assert fields == ["url", "exists", "made_by_vhdupload", "complete", "size", "bytes_present", "source_name",
                      "source_type", "source_size", "source_uuid", "crc64", "source_changed", "writer",
                      "last_modified", "disk_id", "disk_state", "skip_free"]
    states = {
        UploadStatus(url="u", exists=False).state,
        UploadStatus(url="u", exists=True).state,
        UploadStatus(url="u", exists=True, made_by_vhdupload=True).state,
        UploadStatus(url="u", exists=True, made_by_vhdupload=True, source_changed=True).state,
        UploadStatus(url="u", exists=True, made_by_vhdupload=True, complete=True).state,
    }
    assert states == {"absent", "foreign", "partial", "source-changed", "complete"}
    assert UploadStatus(url="u", exists=True, made_by_vhdupload=True).to_dict()["state"] == "partial"


def test_verify_result_ok_is_identical() -> None:
    fields = dict(blob_url="u", first_difference=None, problem=None, complete=True, blob_size=1, expected_size=1,
                  bytes_compared=0, crc64="0" * 16, seconds=0.0)
    assert vhdupload.VerifyResult(identical=True, **fields).ok is True
    assert vhdupload.VerifyResult(identical=False, **fields).ok is False


# -- misspelt keywords: one InputError naming the close match ---------------------------------

BLOB = "https://acct.blob.core.windows.net/vhds/os.vhd"


@pytest.mark.parametrize("entry", ["upload", "verify"])
def test_a_misspelt_keyword_of_upload_and_verify_is_an_input_error(entry: str, tmp_path) -> None:
    function = getattr(vhdupload, entry)
    blob = vhdupload.PageBlob(BLOB)
    missing = tmp_path / "nothing.vhd"  # never opened: the keywords are checked first
    with pytest.raises(InputError, match=rf"^{entry}\(\) has no option 'rezise'; did you mean 'resize'\?$"):
        function(missing, blob, rezise=False)
    with pytest.raises(InputError, match=rf"^{entry}\(\) takes threads in its settings: "
                                         r"pass settings=TransferSettings\(threads=\.\.\.\)$"):
        function(missing, blob, threads=4)
    # no option is close to 'thread': the message lists what it takes, settings among them
    with pytest.raises(InputError, match=rf"^{entry}\(\) has no option 'thread'; it takes .*\bsettings\b"):
        function(missing, blob, thread=4)
    # what moved onto the destination or the settings is refused, not silently ignored
    for moved in ("connection_string", "lease_seconds", "wait_timeout", "blob_client"):
        with pytest.raises(InputError, match=rf"^{entry}\(\) has no option '{moved}'"):
            function(missing, blob, **{moved: 1})


def test_a_misspelt_keyword_of_upload_names_the_close_match() -> None:
    with pytest.raises(InputError, match=r"upload\(\) has no option 'overwite'; did you mean 'overwrite'\?"):
        vhdupload.upload("nothing.vhd", vhdupload.PageBlob(BLOB), overwite=True)
    with pytest.raises(InputError, match=r"status\(\) has no option 'setings'; did you mean 'settings'\?"):
        vhdupload.status(vhdupload.PageBlob(BLOB), setings=None)


def test_a_misspelt_keyword_of_the_values_is_an_input_error() -> None:
    with pytest.raises(InputError, match="PageBlob has no option 'lease_second'; did you mean 'lease_seconds'"):
        vhdupload.PageBlob(BLOB, lease_second=30)
    with pytest.raises(InputError, match="TransferSettings has no option 'thread'; did you mean 'threads'"):
        vhdupload.TransferSettings(thread=4)
    with pytest.raises(InputError, match="ArmConnection has no option 'endpont'; did you mean 'endpoint'"):
        vhdupload.ArmConnection("sub", credential=object(), endpont="https://management.example.com")
    arm = vhdupload.ArmConnection("sub", credential=object())
    with pytest.raises(InputError, match="ManagedDisk has no option 'delete_on_fail'; did you mean 'delete_on_failure'"):
        vhdupload.ManagedDisk("d", resource_group="rg", arm=arm, delete_on_fail=True)
