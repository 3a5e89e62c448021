"""A real browser (Playwright driving Debian's chromium) opens /timeline and /network,
takes a screenshot of each into tests/artifacts/, and checks that the picture is not blank.

No browser is ever downloaded: Playwright is told to use /usr/bin/chromium. The PNG is
checked with a small decoder below (no imaging library needed).
"""

from __future__ import annotations

import struct
import zlib

import pytest

from .conftest import ARTIFACTS


# ---------------------------------------------------------------------------------------
# A tiny PNG decoder: 8-bit greyscale/RGB/RGBA, not interlaced (what Chromium writes).
# ---------------------------------------------------------------------------------------
def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows of raw pixel bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and colour in (0, 2, 6), "unsupported PNG flavour"
    bpp = {0: 1, 2: 3, 6: 4}[colour]
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def pixel_stats(png: bytes) -> tuple[int, float]:
    """(distinct colours, share of pixels that are not the background colour)."""
    width, _height, bpp, rows = decode_png(png)
    counts: dict[bytes, int] = {}
    for row in rows[::2]:  # every other row and column: plenty, and fast in pure Python
        for x in range(0, width * bpp, bpp * 2):
            px = row[x:x + min(bpp, 3)]
            counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    return len(counts), 1 - background / total


def test_png_decoder_on_a_known_image() -> None:
    # 2×1 RGB: red, green — filter 1 (Sub) on the only row.
    raw = b"\x01" + bytes([255, 0, 0, (0 - 255) & 0xFF, 255, 0])
    ihdr = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    width, height, bpp, rows = decode_png(png)
    assert (width, height, bpp) == (2, 1, 3) and rows[0] == bytes([255, 0, 0, 0, 255, 0])


# ---------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------
@pytest.mark.live
@pytest.mark.browser
@pytest.mark.parametrize("page_path", ["/timeline", "/network", "/network?mission=smile"])
def test_screenshot_is_not_blank(browser: object, live_url: str, page_path: str) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
    try:
        response = page.goto(live_url + page_path, wait_until="load")
        assert response is not None and response.status == 200
        svg = page.locator("figure.picture svg")
        assert svg.count() == 1
        box = svg.bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 150
        assert page.locator("figure.picture svg a").count() > 5  # linked marks are there
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = page_path.strip("/").replace("?", "-").replace("=", "-")
        shot = page.locator("figure.picture").screenshot(path=str(ARTIFACTS / f"{name}.png"))
        page.screenshot(path=str(ARTIFACTS / f"{name}-page.png"), full_page=True)
    finally:
        page.close()
    colours, ink = pixel_stats(shot)
    assert colours >= 16, f"only {colours} colours: the picture looks blank"
    assert ink > 0.03, f"only {ink:.1%} of the picture differs from the background"


@pytest.mark.live
@pytest.mark.browser
def test_links_work_in_the_browser(browser: object, live_url: str) -> None:
    """Clicking a mission in the inline SVG opens its page."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
    try:
        page.goto(live_url + "/network", wait_until="load")
        link = page.evaluate_handle("""() => [...document.querySelectorAll('figure.picture svg a')].find(
            a => (a.getAttribute('href') || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))
                 === '/resource/smile')""").as_element()
        assert link is not None, "SMILE is not linked on the map"
        with page.expect_navigation():
            link.click()
        assert page.url.endswith("/resource/smile")
    finally:
        page.close()
