"""Which files an enhance run reads and writes: inputs found, outputs planned, what is skipped and why.

Nothing here opens a file: entries are classified with ``os.stat`` only, so a FIFO or a device is
never opened. The rules (docs/deployment.md):

- A file INPUT must exist, be a regular file and have an audio name; otherwise the run stops before
  anything is processed (:class:`UsageError`), as for a missing INPUT.
- A folder INPUT is walked; its tree is mirrored under the output folder. Every entry with an audio
  name (.wav, .flac, .ogg, any case) is a job, or is *skipped* with its reason when it is not a
  regular file (FIFO, device, socket), is a broken symbolic link or a link loop, or cannot be looked at.
  Other files are counted as ignored.
- Symbolic links to folders are followed, after the folder's real subfolders, with loop protection:
  a folder reached a second time in one INPUT's walk (a loop, or a second link to it) is skipped
  and counted, not walked again. A folder that cannot be listed is skipped and counted.
- Outputs never land on an input: each planned output is resolved (real path, and inode if it
  exists) and compared with every input entry found, and with the other outputs; a clash stops
  the run (:class:`UsageError`) naming both, with or without --overwrite. An output whose real path
  leaves the output folder (through a symbolic link in it) also stops the run.
- Names are taken as the file system gives them (bytes that are not UTF-8 survive as surrogate
  escapes, and outputs get the same bytes); :func:`shown` writes any name safely into a log line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
FileId = tuple[int, int]  # (st_dev, st_ino)


class UsageError(ValueError):
    """Bad command line or inputs: reported before anything is processed (exit 2)."""


@dataclass
class Job:
    src: Path
    dst: Path
    src_id: FileId


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (shown path, reason)
    ignored: int = 0


def shown(path: str | os.PathLike) -> str:
    """``path`` for a log line: as is when printable, else quoted with escapes (a newline, a carriage
    return or a byte that is not UTF-8 cannot break or forge a line)."""
    text = os.fspath(path)
    text = os.fsdecode(text) if isinstance(text, bytes) else text
    return text if text.isprintable() else ascii(text)


def is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES


def within(path: str, folder: str) -> bool:
    """Whether real path ``path`` is ``folder`` or under it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def stat_problem(path: str | os.PathLike, exc: OSError) -> str:
    """Why ``os.stat(path)`` failed, in words."""
    import errno

    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"a broken symbolic link (to {shown(os.readlink(path))})"
    return f"cannot look at it: {exc.strerror}"


def check_out_dir(out_dir: str) -> str:
    """The output folder's real path; UsageError when it is a file or cannot be written."""
    if not out_dir:
        raise UsageError("--out-dir is empty")
    real = os.path.realpath(out_dir)
    probe = real
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        what = "is" if probe == real else f"is inside {shown(probe)}, which is"
        raise UsageError(f"--out-dir {shown(out_dir)} {what} a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out-dir {shown(out_dir)}: {shown(probe)} is not writable")
    return real


class Planner:
    """Builds a :class:`Plan` INPUT by INPUT; :meth:`finish` checks the outputs."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.out = check_out_dir(out_dir)
        self.plan = Plan()
        self.input_reals: dict[str, str] = {}  # real path -> the input as found
        self.input_ids: dict[FileId, str] = {}

    def skip(self, path: str | os.PathLike, reason: str) -> None:
        self.plan.skipped.append((shown(path), reason))

    def note_input(self, path: str, st: os.stat_result) -> None:
        self.input_reals.setdefault(os.path.realpath(path), path)
        self.input_ids.setdefault((st.st_dev, st.st_ino), path)

    def add(self, item: str) -> None:
        """One INPUT of the command line."""
        try:
            st = os.stat(item)
        except OSError as exc:
            missing = not os.path.lexists(item)
            raise UsageError(
                f"{shown(item)}: {'no such file or folder' if missing else stat_problem(item, exc)}"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            before = len(self.plan.jobs) + len(self.plan.skipped)
            self.walk(item)
            if len(self.plan.jobs) + len(self.plan.skipped) == before:
                raise UsageError(
                    f"{shown(item)}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder"
                )
        elif not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{shown(item)}: {kind(st.st_mode)}, not a regular file; not opened")
        elif not is_audio(item):
            raise UsageError(f"{shown(item)}: not a {'/'.join(AUDIO_SUFFIXES)} file")
        else:
            self.note_input(item, st)
            name = os.path.basename(os.path.normpath(item))
            self.plan.jobs.append(Job(Path(item), Path(self.out, name), (st.st_dev, st.st_ino)))

    def walk(self, root: str) -> None:
        """A folder INPUT: real subfolders first, then the ones reached through symbolic links."""
        if within(self.out, os.path.realpath(root)):
            raise UsageError(
                f"--out-dir {shown(self.out_dir)} is inside the input folder {shown(root)}; "
                "choose a folder outside it"
            )
        walked: dict[FileId, str] = {}
        real_dirs: list[tuple[str, tuple[str, ...]]] = [(root, ())]
        linked_dirs: list[tuple[str, tuple[str, ...]]] = []
        while real_dirs or linked_dirs:
            folder, rel = real_dirs.pop() if real_dirs else linked_dirs.pop(0)
            try:
                st = os.stat(folder)
            except OSError as exc:
                self.skip(folder, stat_problem(folder, exc))
                continue
            if (st.st_dev, st.st_ino) in walked:
                first = shown(walked[(st.st_dev, st.st_ino)])
                self.skip(
                    folder, f"folder reached a second time (already walked as {first}); not walked again"
                )
                continue
            walked[(st.st_dev, st.st_ino)] = folder
            if within(self.out, os.path.realpath(folder)):
                raise UsageError(
                    f"--out-dir {shown(self.out_dir)} is inside {shown(folder)} (reached through a symbolic "
                    "link); choose a folder outside the input folders"
                )
            subfolders = self.list_folder(folder, rel)
            real_dirs += reversed([d for d in subfolders if not os.path.islink(d[0])])
            linked_dirs += [d for d in subfolders if os.path.islink(d[0])]

    def list_folder(self, folder: str, rel: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        """Classify a folder's entries; return its subfolders (path, relative parts)."""
        try:
            with os.scandir(folder) as it:
                names = sorted(entry.name for entry in it)
        except OSError as exc:
            self.skip(folder, f"cannot list the folder: {exc.strerror}")
            return []
        subfolders = []
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError as exc:
                self.skip(path, stat_problem(path, exc))
                continue
            self.note_input(path, st)
            if stat.S_ISDIR(st.st_mode):
                subfolders.append((path, (*rel, name)))
            elif not is_audio(name):
                self.plan.ignored += 1
            elif not stat.S_ISREG(st.st_mode):
                self.skip(path, f"{kind(st.st_mode)}, not a regular file; not opened")
            else:
                self.plan.jobs.append(Job(Path(path), Path(self.out, *rel, name), (st.st_dev, st.st_ino)))
        return subfolders

    def finish(self) -> Plan:
        """Check every planned output against the inputs and the other outputs; drop duplicate jobs."""
        by_dst: dict[str, Job] = {}
        jobs = []
        for job in self.plan.jobs:
            real = os.path.realpath(job.dst)  # a link in the output's place is followed here...
            try:
                st = os.stat(real)
                dst_id = (st.st_dev, st.st_ino)
            except OSError:
                st = dst_id = None
            clash = self.input_reals.get(real) or self.input_ids.get(dst_id)
            if clash is not None:
                raise UsageError(
                    f"{shown(job.src)}: its output {shown(job.dst)} would overwrite the input {shown(clash)} "
                    "(with or without --overwrite); choose another --out-dir"
                )
            where = os.path.join(os.path.realpath(job.dst.parent), job.dst.name)  # ...replaced when written
            if not within(where, self.out):
                raise UsageError(
                    f"{shown(job.src)}: its output {shown(job.dst)} would be written to {shown(where)}, "
                    "outside --out-dir (a symbolic link in it); remove the link or choose another --out-dir"
                )
            if real in by_dst:
                if by_dst[real].src_id != job.src_id:
                    raise UsageError(
                        f"{shown(by_dst[real].src)} and {shown(job.src)} would both be written to "
                        f"{shown(job.dst)}; enhance them into different --out-dir folders"
                    )
                continue
            by_dst[real] = job
            if st is not None and not stat.S_ISREG(st.st_mode):
                self.skip(job.src, f"its output {shown(job.dst)} exists and is {kind(st.st_mode)}")
                continue
            jobs.append(job)
        self.plan.jobs = jobs
        return self.plan


def plan_jobs(inputs: list[str], out_dir: str) -> Plan:
    """The jobs, skipped entries and ignored count of an enhance run; UsageError for a bad run."""
    planner = Planner(out_dir)
    for item in inputs:
        planner.add(item)
    return planner.finish()
