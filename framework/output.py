"""What every command shares about its output: a folder it may write to, and a warning line for the person.

``require_writable_folder`` is the one test of "can this folder be created and written" (catalogs, ``--out``
folders, run folders); ``warn`` is the one way a command prints a warning (the run goes on).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from framework.errors import FrameworkError

WRITABLE_HINT = "make {} writable (fix its permissions, or remount read-write)"


def warn(message: str) -> None:
    """A warning for the person at the console: one line ``warning: ...`` on stderr (the run goes on)."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def require_writable_folder(path: str | Path, what: str, *, option: str, create: bool = True,
                            error: type[FrameworkError] = FrameworkError) -> Path:
    """Refuse, with one ``error`` line naming the folder and the fix, a folder that cannot be created or written.

    ``what`` is the name the user knows it by (``catalog folder``, ``output folder``, ``run folder``),
    ``option`` the flag (or key) that chooses another one. A real file (or folder) is made and removed: permission
    bits do not tell (root passes them all, yet cannot write to ``/sys`` or a read-only mount).
    ``create``: make the folder (and its parents) now; otherwise nothing is left behind and the probe runs in
    the nearest existing parent when the folder does not exist yet (a run refused later leaves no empty folder).
    Returns the folder.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise error(f"{what} {folder} is a file, not a folder; give a folder as {option} (it is created if missing)")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():  # a file where a parent folder should be
        raise error(f"{what} {folder} cannot be written: Not a directory ({existing} is a file, not a folder); "
                    f"choose another {option}")
    created = existing == folder
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
            created = True
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
            os.close(fd)
            os.unlink(probe)
        else:
            Path(tempfile.mkdtemp(dir=existing, prefix=".write-probe-")).rmdir()
    except OSError as e:
        where = "" if created else f" (it cannot be created in {existing})"
        fix = WRITABLE_HINT.format("it" if created else existing)
        raise error(f"{what} {folder} cannot be written: {e.strerror or e}{where}; choose another {option}, "
                    f"or {fix}") from None
    return folder


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
