"""Tiny uploads made in the test: zips of generated images, CSV text."""
from __future__ import annotations

import io
import stat
import zipfile

from PIL import Image


def image_bytes(shade: int, fmt: str = "PNG", size: tuple[int, int] = (12, 10), mode: str = "L") -> bytes:
    """An image of one shade with a bright square whose place depends on the shade, so classes differ."""
    image = Image.new(mode, size, shade if mode == "L" else (shade, 255 - shade, 0))
    corner = 0 if shade < 128 else size[0] // 2
    image.paste(255 if mode == "L" else (255, 255, 255), (corner, 0, corner + size[0] // 2, size[1] // 2))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED, links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def two_class_zip(per_class: int = 3, root: str = "") -> bytes:
    files = {}
    for i in range(per_class):
        files[f"{root}cats/{i}.png"] = image_bytes(30 + i)
        files[f"{root}dogs/{i}.jpg"] = image_bytes(200 + i, fmt="JPEG")
    return zip_bytes(files)


def csv_bytes(rows: int = 12) -> bytes:
    lines = ["height,weight,species"]
    for i in range(rows):
        species = "a" if i % 2 else "b"
        base = 1.0 if species == "a" else 5.0
        lines.append(f"{base + i * 0.01:.2f},{base * 2 + i * 0.02:.2f},{species}")
    return ("\n".join(lines) + "\n").encode()


def ratings_bytes(users: int = 6, items: int = 5, titles: bool = True) -> bytes:
    """Every user rates every item: users who like even items and users who like odd ones."""
    lines = ["user,item,rating" + (",title" if titles else "")]
    for u in range(users):
        for i in range(items):
            rating = 5 if (u + i) % 2 == 0 else 1
            lines.append(f"u{u},m{i},{rating}" + (f",Movie {i}" if titles else ""))
    return ("\n".join(lines) + "\n").encode()
