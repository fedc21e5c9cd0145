"""decide(): the upload's one decision table, without any server."""

from __future__ import annotations

import pytest

from vhdupload.azure.state import STATE_COMPLETE, STATE_SOURCE_CHANGED, STATE_UPLOADING, SourceIdentity, UploadState
from vhdupload.upload_decision import Action, Existing, decide

ME = SourceIdentity(virtual_size=1 << 30, uuid="aa" * 16, fingerprint="0123456789abcdef", disk_type="dynamic", name="os.vhd")
OTHER = SourceIdentity(virtual_size=1 << 30, uuid="bb" * 16, fingerprint="fedcba9876543210", disk_type="fixed", name="x.vhd")
SIZE = (1 << 30) + 512
STATS = "1:2:00000000000000aa"  # the source file now (device 1, inode 2)
MODIFIED = "1:2:00000000000000bb"  # the same file, written since
COPY = "9:9:00000000000000cc"  # another file: judged by the fingerprint alone


def state(source=ME, *, kind=STATE_UPLOADING, size=SIZE, stat=STATS) -> UploadState:
    return UploadState(source=source, blob_size=size, footer_uuid="", footer_timestamp=0, state=kind, source_stat=stat)


CASES = [
    # (what is there, overwrite, action, words in the reason)
    (Existing(exists=False), False, Action.CREATE, ""),
    (Existing(exists=False), True, Action.CREATE, ""),
    (Existing(True, state()), False, Action.RESUME, ""),
    (Existing(True, state(kind=STATE_COMPLETE)), False, Action.COMPLETE, ""),
    (Existing(True, state(kind=STATE_COMPLETE)), True, Action.REPLACE, ""),
    (Existing(True, state()), True, Action.REPLACE, ""),
    (Existing(True, state(stat=COPY)), False, Action.RESUME, ""),  # a copy elsewhere: same data, resumable
    (Existing(True, state(stat=MODIFIED)), False, Action.REFUSE, "source changed"),
    (Existing(True, state(kind=STATE_COMPLETE, stat=MODIFIED)), False, Action.REFUSE, "modified since"),
    (Existing(True, state(kind=STATE_SOURCE_CHANGED)), False, Action.REFUSE, "source changed"),
    (Existing(True, state(kind=STATE_SOURCE_CHANGED)), True, Action.REPLACE, ""),
    (Existing(True, None, foreign="a blob that vhdupload did not make"), False, Action.REFUSE, "did not make; add --overwrite"),
    (Existing(True, None), True, Action.REPLACE, ""),
    (Existing(True, state(OTHER)), False, Action.REFUSE, "an unfinished upload of another source, x.vhd"),
    (Existing(True, state(OTHER, kind=STATE_COMPLETE)), False, Action.REFUSE, "a finished upload of another source"),
    (Existing(True, state(size=SIZE + (1 << 20))), False, Action.REFUSE, "different layout"),
    (Existing(True, state(), writable=False, foreign="a disk in state Attached"), False, Action.REFUSE, "Attached"),
    (Existing(True, state(), writable=False, foreign="a disk in state Attached"), True, Action.REPLACE, ""),
]


@pytest.mark.parametrize("existing, overwrite, action, words", CASES)
def test_decision_table(existing, overwrite, action, words):
    decision = decide(existing, identity=ME, blob_size=SIZE, stats=STATS, overwrite=overwrite)
    assert decision.action is action
    assert words in decision.reason
    if action is Action.REFUSE:
        assert "--overwrite" in decision.reason and "\n" not in decision.reason
