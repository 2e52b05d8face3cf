"""The raw copy of a call (its plan's `redaction.raw_copy`) for the roles it names: the call
view with the words as said (`/calls/ID/raw`), the recording before the beep
(`/recordings/ID/raw`), and, for admins, the audit log of every raw view (`/audit`).

Every raw view is written to the audit log before anything raw is sent. A role the call's
copy does not name gets 403, whatever URL it asks for; a call without a copy, 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from ivr.store.raw_store import RawCopies, RawCopy
from ivr.web.accounts import User
from ivr.web.auth import Forbidden, admin_user, current_user
from ivr.web.calls import call_page, wav_file
from ivr.web.templating import render

router = APIRouter()

AUDIT_ROWS = 500  # the newest raw views the audit page lists


def raw_copies(request: Request) -> RawCopies:
    """The console's raw copies and their audit log."""
    return request.app.state.raw


def allowed_copy(request: Request, call_id: str, user: User) -> RawCopy:
    """The call's raw copy, if `user`'s role may see it (Forbidden, or 404 without one)."""
    copy = raw_copies(request).copy(call_id)
    if copy is None:
        raise HTTPException(404, "this call has no raw copy")
    if not copy.allows(user.role):
        raise Forbidden(f"The raw copy of this call is for the role(s) {', '.join(copy.roles)}; "
                        f"yours is {user.role}.")
    return copy


@router.get("/calls/{call_id}/raw")
def raw_call_view(call_id: str, request: Request, user: User = Depends(current_user)
                  ) -> Response:
    """The call view with each turn's words as said (logged)."""
    allowed_copy(request, call_id, user)
    raw = raw_copies(request)
    raw.log_view(user.name, call_id, "text")
    return call_page(request, call_id, user, raw.turns(call_id))


@router.get("/recordings/{call_id}/raw")
def raw_recording(call_id: str, request: Request, user: User = Depends(current_user)
                  ) -> Response:
    """The recording as said, before the beep (logged once per playback: the request for
    its start, not each Range request of the seeking that follows)."""
    copy = allowed_copy(request, call_id, user)
    if not copy.recording_path:
        raise HTTPException(404, "no raw recording for this call (nothing in it was masked)")
    if request.headers.get("range", "bytes=0-").replace(" ", "").startswith("bytes=0-"):
        raw_copies(request).log_view(user.name, call_id, "audio")
    return wav_file(request, copy.recording_path, cache="no-store")


@router.get("/audit")
def audit_page(request: Request, user: User = Depends(admin_user)) -> Response:
    """Admins: who saw which call's raw copy, when, newest first."""
    return render(request, "audit.html", {"views": raw_copies(request).views(AUDIT_ROWS),
                                          "limit": AUDIT_ROWS})
