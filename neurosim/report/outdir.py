"""Report directories: build everything in a temporary directory beside the target, then move it into place.

A report directory carries a manifest (``.neurosim-report``) listing the files the report wrote. Rewriting a
report over an earlier one (only manifest-listed files present) needs no flag. A directory holding anything else
is refused unless ``force``; then the new report's files are moved in one by one (each by an atomic rename), the
earlier report's files that the new one does not write are removed, and every other file is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from neurosim.errors import NeurosimError
from neurosim.io import deferred_signals, hold_before_rename, progress_line

MANIFEST = ".neurosim-report"
MANIFEST_FORMAT = "neurosim-report"


def _manifest_files(out: Path) -> set[str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return set()
    return {str(f) for f in data.get("files", []) if isinstance(f, str)}


def foreign_entries(out: Path) -> list[str]:
    """Entries of ``out`` that an earlier neurosim report did not write."""
    ours = _manifest_files(out) | {MANIFEST}
    return sorted(p.name for p in out.iterdir() if p.name not in ours)


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse early (before any work) an output path the report cannot or must not use."""
    if out.exists() and not out.is_dir():
        raise NeurosimError(f"--out-dir {out}: exists and is not a directory")
    if out.is_dir():
        foreign = foreign_entries(out)
        if foreign and not force:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise NeurosimError(f"--out-dir {out}: directory is not empty and holds files that are not from a neurosim "
                                f"report ({shown}); choose another directory or pass --force (those files are kept)")
    anc = out
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise NeurosimError(f"--out-dir {out}: {anc} is a file, not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise NeurosimError(f"--out-dir {out}: cannot write there (permission denied on {anc})")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _os_error(out: Path, exc: OSError) -> NeurosimError:
    why = exc.strerror or exc.__class__.__name__
    return NeurosimError(f"--out-dir {out}: cannot write the report ({why}); nothing was written")


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory; when the block succeeds, its files become ``out``'s report."""
    out = Path(out)
    check_out_dir(out, force)
    tmp: Path | None = None
    try:
        with deferred_signals():  # an interrupt lands after the temporary is known, so the cleanup below sees it
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a report directory is an ordinary directory
        progress_line(f"writing {out}")
        yield tmp
        files = sorted(p.name for p in tmp.iterdir())
        (tmp / MANIFEST).write_text(json.dumps({"format": MANIFEST_FORMAT, "version": 1, "files": files}, indent=1)
                                    + "\n", encoding="utf-8")
        hold_before_rename(out)
        with deferred_signals():  # the renames that swap the directories: all of them or none
            _install(tmp, out, files, force)
        progress_line(f"wrote {out}")
    except OSError as exc:
        raise _os_error(out, exc) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, out: Path, files: list[str], force: bool) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    foreign = foreign_entries(out)
    if not foreign:  # an earlier report (or an empty directory): swap the whole directory
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "r")
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old / "r", out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    if not force:  # the directory changed while the report was being built
        raise NeurosimError(f"--out-dir {out}: files appeared there while the report was built ({foreign[0]}); "
                            "nothing was written")
    stale = _manifest_files(out) - set(files)
    for name in files:
        os.replace(tmp / name, out / name)
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    os.replace(tmp / MANIFEST, out / MANIFEST)
