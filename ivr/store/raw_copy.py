"""The unredacted copy of a call's recording, for plans with `redaction.raw_copy`.

Before the recording is beeped in place (`ivr.store.audio_redact`), it is copied as said to
`raw/CALL_ID.wav` beside it: the folder is created with mode 0700 and the file with 0600
(owner only, whatever the umask), never overwriting a file that is there. Only the console's
authorised raw URL serves it; `ivr calls purge` deletes it with its call (`CallStore.purge`).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("ivr.store")

RAW_FOLDER = "raw"
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def raw_path(recording: Path) -> Path:
    """Where the raw copy of `recording` goes."""
    return recording.parent / RAW_FOLDER / recording.name


def keep_raw_recording(recording: Path) -> Path:
    """Copy `recording` to its raw path (FileExistsError if a copy is there already) and
    return that path. The copy is written under a temporary name and renamed when complete."""
    target = raw_path(recording)
    target.parent.mkdir(mode=FOLDER_MODE, exist_ok=True)
    os.chmod(target.parent, FOLDER_MODE)
    if target.exists():
        raise FileExistsError(f"{target}: a raw copy is there already")
    tmp = target.with_name(f".{target.name}.copying")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out, open(recording, "rb") as source:
            os.fchmod(out.fileno(), FILE_MODE)  # O_CREAT's mode is cut by the umask
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return target


def delete_raw_file(path: str | None) -> bool:
    """Delete a raw copy the store named (True if a file was deleted); failures are logged."""
    if not path:
        return False
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.error("retention: cannot delete the raw recording %s: %s", path, exc)
        return False
    return True
