"""Text inputs of the functional engine: read a UTF-8 file, or the public-domain text shipped in ``data/``."""

from __future__ import annotations

from pathlib import Path

from neurosim.errors import NeurosimError

#: the largest --text read (a run takes its first tokens; a novel is a few MiB)
MAX_TEXT_BYTES = 64 * 2**20
#: the default text: chapter 1 of Jane Austen's Pride and Prejudice (1813, public domain); see data/SOURCES.md
DEFAULT_TEXT = "pride_and_prejudice_ch1.txt"


def default_text_path() -> Path:
    from neurosim.resources import data_file

    return data_file(DEFAULT_TEXT)


def load_text(path: str | Path | None = None) -> tuple[str, str]:
    """(text, where) of a UTF-8 text file, the shipped default when ``path`` is None; errors name the file."""
    import stat

    p = Path(path) if path is not None else default_text_path()
    try:
        mode = p.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO would block, a device never end
            raise NeurosimError(f"--text {p}: not a regular file; allowed: a UTF-8 text file")
        if p.is_file() and p.stat().st_size > MAX_TEXT_BYTES:
            raise NeurosimError(f"--text {p}: {p.stat().st_size / 2**20:.0f} MiB; allowed: a text file of at most "
                                f"{MAX_TEXT_BYTES // 2**20} MiB")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise NeurosimError(f"--text {p}: file not found") from None
    except IsADirectoryError:
        raise NeurosimError(f"--text {p}: is a directory; allowed: a UTF-8 text file") from None
    except OSError as exc:
        raise NeurosimError(f"--text {p}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NeurosimError(f"--text {p}: not UTF-8 text (invalid byte at offset {exc.start}); allowed: a UTF-8 "
                            "text file") from None
    if not text.strip():
        raise NeurosimError(f"--text {p}: the file is empty; allowed: a UTF-8 text file with some words")
    return text, str(p)


def token_ids(model, text: str, tokens: int | None, where: str = "text", minimum: int = 1):
    """The first ``tokens`` token ids of a text (all when None), at least ``minimum``."""
    if tokens is not None and tokens < minimum:
        raise NeurosimError(f"--tokens {tokens}; allowed: an integer >= {minimum}")
    ids = model.encode(text)
    if ids.size < minimum:
        raise NeurosimError(f"{where}: only {ids.size} token(s); at least {minimum} needed")
    return ids[:tokens] if tokens is not None else ids
