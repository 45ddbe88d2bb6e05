"""torchvision's download and archive helpers, imported on their first call: importing
torchvision takes seconds (it pulls in ``torch._dynamo``), and most runs download nothing."""

from __future__ import annotations

from typing import Any, Callable


def _from_torchvision(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        from torchvision.datasets import utils

        return getattr(utils, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``torchvision.datasets.utils.{name}``, imported on the first call."
    return call


check_integrity = _from_torchvision("check_integrity")
download_and_extract_archive = _from_torchvision("download_and_extract_archive")
download_file_from_google_drive = _from_torchvision("download_file_from_google_drive")
download_url = _from_torchvision("download_url")
extract_archive = _from_torchvision("extract_archive")
