"""Published dataset archives: fetch one into the cache directory, check its md5, unpack it.

An archive already in the cache directory is used as it is once its md5 matches, so an
offline user can drop the file there. Downloads go through torchvision's helpers, which
check the md5 of what arrived: ``download_url`` for plain web addresses and
``download_file_from_google_drive`` (it needs the ``gdown`` package, ``pip install
club[datasets]``) for archives published on Google Drive.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from . import DatasetUnavailable
from .downloads import check_integrity, download_file_from_google_drive, download_url, extract_archive


@dataclass(frozen=True)
class Archive:
    """A published archive: its file name, md5, and where a person or CLUB downloads it."""

    filename: str
    md5: str
    url: str  # the address a person opens to download it
    drive_id: str | None = None  # set when the archive lives on Google Drive

    @staticmethod
    def on_google_drive(filename: str, md5: str, drive_id: str) -> "Archive":
        return Archive(filename, md5, f"https://drive.google.com/file/d/{drive_id}", drive_id)

    def download(self, root: Path) -> None:
        """Download into ``root``; torchvision raises unless the md5 of the result matches."""
        if self.drive_id is not None and importlib.util.find_spec("gdown") is None:
            raise ModuleNotFoundError("downloading from Google Drive needs the gdown package: pip install 'club[datasets]'")
        if self.drive_id is not None:
            download_file_from_google_drive(self.drive_id, str(root), self.filename, self.md5)
        else:
            download_url(self.url, str(root), self.filename, self.md5)


def fetch_archive(source: str, archive: Archive, root: Path, download: bool, how_to: str) -> None:
    """Unpack ``root/archive.filename`` into ``root``, downloading it first when allowed.

    ``how_to`` ends every "not found" message: one clause telling the user where to put the
    data. Every failure is a one-line :class:`DatasetUnavailable`.
    """
    path = root / archive.filename
    if path.is_file():
        if not check_integrity(str(path), archive.md5):
            raise DatasetUnavailable(
                f"{source}: {path} does not have the published md5 {archive.md5}; "
                f"delete it and download it again from {archive.url}"
            )
    elif not download:
        raise DatasetUnavailable(f"{source}: not found in {root} and download is off; {how_to}")
    else:
        try:
            archive.download(root)
        except Exception as error:  # offline, refused, quota, checksum mismatch: all mean "not here"
            path.unlink(missing_ok=True)  # whatever arrived failed the md5
            raise DatasetUnavailable(
                f"{source}: not found in {root} and download failed ({one_line(error)}); {how_to}"
            ) from error
    try:
        extract_archive(str(path), str(root))
    except Exception as error:  # a damaged archive fails with zipfile, tarfile or OS errors
        raise DatasetUnavailable(
            f"{source}: could not unpack {path} ({one_line(error)}); delete it and download it again from {archive.url}"
        ) from error


def one_line(error: BaseException, limit: int = 160) -> str:
    """The error as one line of at most ``limit`` characters."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
