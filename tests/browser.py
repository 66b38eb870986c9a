"""A real headless Chromium for the tests of pages: Debian's ``chromium`` package (README's test
command installs it where it can), driven from the command line — ``--dump-dom`` for the DOM the
browser built, ``--screenshot`` for what it drew — so no driver library and no browser download.
Where no Chromium is found the browser tests skip, saying so."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120  # seconds for one browser run, on a shared machine
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium() -> str:
    """The browser's executable ($DEALFLOW_CHROMIUM, else the first on PATH), or skip the test."""
    found = os.environ.get("DEALFLOW_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
    if not found:
        pytest.skip(
            "browser test skipped: no Chromium found (install Debian's `chromium` package — README's test "
            "command does when it runs as root — or set DEALFLOW_CHROMIUM to a Chromium executable)"
        )
    return found


def _run(page: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="dealflow-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
        )


def dump_dom(page: Path) -> str:
    """The page's DOM after Chromium loaded and laid it out, serialised."""
    return _run(page, "--dump-dom").stdout.decode()


def screenshot(page: Path, out: Path, width: int = 1400, height: int = 1000) -> Path:
    """What Chromium draws of the page in a window ``width`` wide and ``height`` high, as PNG."""
    _run(page, f"--screenshot={out}", f"--window-size={width},{height}")
    return out


class Elements(HTMLParser):
    """Every start tag of an HTML text with its attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.found if name in attrs.get("class", "").split()]


def _unfilter(kind: int, line: bytearray, previous: bytes, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        corner = previous[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF


def pixels(png: Path) -> list[tuple[int, int, int]]:
    """Every pixel's (r, g, b) of an 8-bit RGB or RGBA PNG, as Chromium's screenshots are."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    at, chunks, header = 8, [], b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format (depth {depth}, colour type {colour})"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * bpp
    previous, found = bytes(stride), []
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, bpp)
        found += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp)]
        previous = bytes(line)
    return found


def count_near(found: list[tuple[int, int, int]], colour: str, tolerance: int = 24) -> int:
    """How many pixels are within ``tolerance`` of ``colour`` (#rrggbb) on every channel."""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(1 for p in found if all(abs(a - b) <= tolerance for a, b in zip(p, want, strict=True)))
