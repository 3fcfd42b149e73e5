"""Reading and extracting a packed model's ``.tar.gz`` without trusting it.

An archive comes from anywhere (a colleague, a download), so every member is checked on its header,
before a byte of its data is read:

- the number of members, each member's declared size and their total are capped (:class:`Limits`:
  512 MiB a member, 4 MiB for a YAML member, 1 GiB in all, 64 members; a paper-size model's archive
  holds ~10 MB of weights and two ONNX graphs of ~10 MB and ~3 MB). tarfile's own reads of the pax and
  GNU long-name extension headers are capped at 1 MiB too (:class:`_CheckedTarInfo`);
- only regular files (and folders) are accepted: a symbolic or hard link, a device, a FIFO or a sparse
  member is refused, and so are absolute names, ``..`` in a name, and a name given twice;
- members are read in 1 MiB pieces and hashed as they stream; only the ones the caller wants are kept.

:func:`extract` writes verified members into a folder: only their own (checked) names, never through a
symbolic link that is already in the folder, each atomically.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MIB = 1 << 20
PIECE = MIB
HEADER_BYTES = MIB  # pax / GNU long-name headers: tarfile reads them whole
TEXT_SUFFIXES = (".yaml", ".yml")
_UMASK = os.umask(0)
os.umask(_UMASK)


class PackedModelError(ValueError):
    """The archive is not a usable packed model (corrupt, foreign, tampered, hostile or incompatible)."""


@dataclass(frozen=True)
class Limits:
    """Caps on what an archive may make us read (bytes, as declared by the member headers)."""

    member_bytes: int = 512 * MIB
    total_bytes: int = 1024 * MIB
    text_bytes: int = 4 * MIB
    members: int = 64

    def __post_init__(self):
        for name in ("member_bytes", "total_bytes", "text_bytes", "members"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be a positive int, got {getattr(self, name)!r}")


class _RefusedError(Exception):
    """Raised inside tarfile's header parsing; turned into a PackedModelError naming the archive."""


class _CheckedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses, before tarfile reads them, oversized extension headers and sparse members."""

    def _proc_member(self, tarfile_):
        extension = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE)
        if self.type in extension + (tarfile.SOLARIS_XHDTYPE,) and self.size > HEADER_BYTES:
            raise _RefusedError(
                f"an extension header declares {self.size} bytes, over {HEADER_BYTES // MIB} MiB"
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _RefusedError(f"member {self.name!r} is a sparse file")
        return super()._proc_member(tarfile_)


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return f"a symbolic link to {info.linkname!r}"
    if info.islnk():
        return f"a hard link to {info.linkname!r}"
    if info.ischr() or info.isblk():
        return "a device"
    if info.isfifo():
        return "a FIFO"
    if info.issparse():
        return "a sparse file"
    return f"of tar type {info.type!r}"


def unsafe_name(name: str) -> bool:
    """Whether a member name could land outside the folder it is extracted to (or is empty)."""
    parts = PurePosixPath(name).parts
    return not parts or name.startswith("/") or ".." in parts or "\\" in name or "\0" in name


class _Checker:
    """Counts and checks member headers as they come (one archive)."""

    def __init__(self, path: Path, limits: Limits):
        self.path, self.limits = path, limits
        self.count = self.total = 0
        self.names: set[str] = set()

    def check(self, info: tarfile.TarInfo) -> None:
        where, name = self.path, info.name
        self.count += 1
        if self.count > self.limits.members:
            raise PackedModelError(f"{where}: more than {self.limits.members} members; not a packed model")
        if unsafe_name(name):
            raise PackedModelError(f"{where}: unsafe member name {name!r} (absolute, '..' or empty)")
        if name in self.names:
            raise PackedModelError(f"{where}: member {name!r} appears twice")
        self.names.add(name)
        if not (info.isreg() or info.isdir()) or info.issparse():
            raise PackedModelError(f"{where}: member {name!r} is {_kind(info)}; only regular files are read")
        cap = self.limits.text_bytes if name.endswith(TEXT_SUFFIXES) else self.limits.member_bytes
        if info.size > cap:
            raise PackedModelError(
                f"{where}: member {name} declares {info.size} bytes ({info.size / MIB:.1f} MiB), over the "
                f"{cap / MIB:g} MiB limit for a member; refused before reading it"
            )
        self.total += info.size
        if self.total > self.limits.total_bytes:
            raise PackedModelError(
                f"{where}: the members declare more than {self.limits.total_bytes / MIB:g} MiB in all "
                f"(at {name}); refused before reading them"
            )


def _stream(tar: tarfile.TarFile, info: tarfile.TarInfo, keep: bool) -> tuple[bytes | None, str]:
    """(the member's bytes if ``keep``, its sha256), read in pieces of 1 MiB."""
    digest, data = hashlib.sha256(), bytearray() if keep else None
    source = tar.extractfile(info)
    got = 0
    while piece := source.read(min(PIECE, info.size - got)):
        digest.update(piece)
        got += len(piece)
        if keep:
            data += piece
        if got >= info.size:
            break
    if got != info.size:
        raise tarfile.ReadError(f"member {info.name} ends after {got} of {info.size} bytes")
    return (bytes(data) if keep else None), digest.hexdigest()


def regular_file(path: str | os.PathLike, what: str) -> os.stat_result:
    """os.stat of ``path``, a regular file; PackedModelError naming it otherwise (never opens it)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise PackedModelError(f"{os.fsdecode(path)}: {exc.strerror} (the {what})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise PackedModelError(f"{os.fsdecode(path)}: a folder, not the {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise PackedModelError(
            f"{os.fsdecode(path)}: not a regular file (a FIFO, device or socket); the {what} is not opened"
        )
    return st


def read_members(path: Path, wanted: set[str], limits: Limits) -> tuple[dict[str, bytes], dict[str, str]]:
    """(bytes of the ``wanted`` members present, sha256 of every regular member) of a ``.tar.gz``."""
    regular_file(path, "model archive")
    checker = _Checker(path, limits)
    kept: dict[str, bytes] = {}
    digests: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:gz", tarinfo=_CheckedTarInfo) as tar:
            for info in tar:
                checker.check(info)
                if info.isreg():
                    data, digests[info.name] = _stream(tar, info, keep=info.name in wanted)
                    if data is not None:
                        kept[info.name] = data
    except _RefusedError as exc:
        raise PackedModelError(f"{path}: {exc}; not a packed model") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackedModelError(f"{path}: not a readable .tar.gz archive ({exc})") from exc
    return kept, digests


def extract(members: dict[str, bytes], dest: str | os.PathLike) -> dict[str, Path]:
    """Write ``members`` (name -> bytes, names checked) under ``dest``; return name -> path.

    Folders are created as needed; a folder on the way that is a symbolic link (or not a folder) is
    refused, so nothing is ever written outside ``dest``. Each file is written to a temporary name
    and renamed (a symbolic link in its place is replaced, not followed)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in members.items():
        if unsafe_name(name):
            raise PackedModelError(f"unsafe member name {name!r}")
        folder = dest
        for part in PurePosixPath(name).parts[:-1]:
            folder = folder / part
            if not folder.exists() and not folder.is_symlink():
                folder.mkdir()
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                raise PackedModelError(
                    f"{folder}: not a folder (a symbolic link or a file); not written into"
                )
        target = folder / PurePosixPath(name).name
        fd, tmp = tempfile.mkstemp(prefix=".unpack-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o666 & ~_UMASK)
                f.write(data)
            os.replace(tmp, target)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        written[name] = target
    return written
