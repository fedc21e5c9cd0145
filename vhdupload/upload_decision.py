"""What an upload does with what it finds at the destination: a pure decision, no I/O.

The destination (a page blob, a managed disk) reports what it holds as an :class:`Existing`;
:func:`decide` turns that, the local source's identity and the caller's ``overwrite`` into one
:class:`Decision`. Keeping it pure keeps every rule in one table-testable place and lets both
destinations share it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .azure.state import SourceIdentity, UploadState


class Action(enum.Enum):
    CREATE = "create"  # nothing there: make it
    RESUME = "resume"  # our unfinished upload of this source: send the rest
    COMPLETE = "complete"  # our finished upload of this source: nothing to send
    #: Our finished upload of this source, sent with ``skip_free`` the other way: nothing to send
    #: if it holds what this way would leave (its CRC64 says), else refuse with ``reason``.
    COMPLETE_IF_SAME = "complete-if-same"
    REPLACE = "replace"  # something else is there and the caller said overwrite
    REFUSE = "refuse"  # something else is there: say what, and how to replace it


@dataclass(frozen=True)
class Existing:
    """What the destination holds.

    ``writable`` is False when the destination exists in a form this upload cannot continue
    (a block blob; a disk that is attached, or finished by someone else). ``foreign`` describes
    it for a refusal when it was not made by vhdupload ("a blob that vhdupload did not make").
    """

    exists: bool
    state: UploadState | None = None
    writable: bool = True
    foreign: str = "something that vhdupload did not make"


@dataclass(frozen=True)
class Decision:
    action: Action
    #: For REFUSE: what the destination holds, to follow its name ("already holds ..."), ending
    #: with what to do.
    reason: str = ""


OVERWRITE_HINT = "add --overwrite to replace it"


def decide(
    existing: Existing,
    *,
    identity: SourceIdentity,
    blob_size: int,
    stats: str,
    overwrite: bool,
    skip_free: bool = False,
) -> Decision:
    """The one decision table of an upload (see the module docstring).

    ``stats`` is the source files' stat token now (see ``azure.state.stat_token``): the very
    same file modified since the recorded upload read it is never resumed nor taken as done.
    ``skip_free`` is whether this upload leaves free space home: an unfinished upload made the
    other way is still resumed (the session rewrites what differs); a finished one is taken as
    done only if it holds the very bytes this call would leave, else refused with both ways out.
    """
    if not existing.exists:
        return Decision(Action.CREATE)
    state = existing.state
    ours = (
        state is not None
        and existing.writable
        and state.source.same_source(identity)
        and state.blob_size == blob_size
    )
    if ours and overwrite:
        return Decision(Action.REPLACE)
    if ours:
        assert state is not None
        if state.modified_since(stats):
            if state.complete:
                return Decision(
                    Action.REFUSE,
                    f"holds a finished upload of {identity.name or 'this source'}, but the file was modified "
                    "since; add --overwrite to upload it again",
                )
            return Decision(Action.REFUSE, _CHANGED)
        if state.source_changed:
            return Decision(Action.REFUSE, _CHANGED)
        if state.complete and state.skip_free != skip_free:
            return Decision(Action.COMPLETE_IF_SAME, _finished_the_other_way(identity, recorded_skip_free=state.skip_free))
        return Decision(Action.COMPLETE if state.complete else Action.RESUME)
    if overwrite:
        return Decision(Action.REPLACE)
    if state is None:
        what = existing.foreign
    elif state.source_changed and state.source.same_source(identity):
        return Decision(Action.REFUSE, _CHANGED)
    elif state.source.same_source(identity) and state.blob_size != blob_size:
        what = f"an upload of the same source but a different layout ({state.blob_size} bytes)"
    elif state.source.same_source(identity):
        what = existing.foreign
    else:
        kind = "a finished" if state.complete else "an unfinished"
        what = f"{kind} upload of another source, {state.source.describe()}"
    return Decision(Action.REFUSE, f"already holds {what}; {OVERWRITE_HINT}")


_CHANGED = (
    "holds an unfinished upload whose source changed during or since it, so the pages already there "
    "cannot be trusted; add --overwrite to upload afresh"
)


def _finished_the_other_way(identity: SourceIdentity, *, recorded_skip_free: bool) -> str:
    name = identity.name or "this source"
    if recorded_skip_free:
        return (f"holds a finished upload of {name} that left its free space home (--skip-free); run it with "
                "--skip-free to accept it as done, or add --overwrite to send the disk whole")
    return (f"holds a finished upload of {name} sent whole (without --skip-free); run it without --skip-free "
            "to accept it as done, or add --overwrite to send it again without its free space")
