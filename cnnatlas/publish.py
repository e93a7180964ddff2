"""Publishing (issue 8): the search index, `sitemap.xml` when `site.base_url` is set, `site.zip`.

Everything here is deterministic: same site in, same bytes out (sorted entries, no clock time).
Without `base_url` nothing absolute is written: no sitemap, no canonical links (base.html).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from . import search
from .cache import _umask
from .render import Page
from .report import REPORT_PATH
from .site import Site

SITEMAP_PATH = "sitemap.xml"
NOT_IN_SITEMAP = frozenset({"404.html"})
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold: no build clock in it


def sitemap_xml(base_url: str, urls: Iterable[str]) -> str:
    """A sitemaps.org urlset of `base_url` + each site-relative URL (sorted, no duplicates)."""
    base = base_url.rstrip("/") + "/"
    locs = "".join(f"  <url><loc>{escape(base + u)}</loc></url>\n" for u in sorted(set(urls)))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{locs}</urlset>\n"
    )


def site_files(
    site: Site, rendered: list[tuple[str, Page]], report: bool = False
) -> Iterator[tuple[str, str]]:
    """The files that describe the rendered site: `search-index.js`, and `sitemap.xml` when
    `site.base_url` is set.

    Args:
      rendered: (page type, Page) for every page of the build.
      report: whether report.html is part of the site (then it is in the sitemap too).
    """
    yield search.INDEX_PATH, search.index_js(search.entries(site, rendered))
    if site.base_url:
        urls = [p.url for _, p in rendered if p.url not in NOT_IN_SITEMAP]
        yield SITEMAP_PATH, sitemap_xml(site.base_url, urls + ([REPORT_PATH] if report else []))


def write_zip(site_dir: Path, zip_path: Path) -> int:
    """Archive the whole site folder as `zip_path` (written atomically); returns its size.

    Deterministic: entries sorted by path, fixed timestamps and permissions, DEFLATE level 9, so
    the same site always gives the same bytes. Entries are relative to the site folder.
    """
    site_dir, zip_path = Path(site_dir), Path(zip_path)
    files = sorted(
        (p.relative_to(site_dir).as_posix(), p) for p in site_dir.rglob("*") if p.is_file()
    )
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{zip_path.name}-", dir=zip_path.parent)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as zf:
            for name, path in files:
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
                info.create_system = 3  # Unix, so that the permissions above are read back
                zf.writestr(info, path.read_bytes(), compresslevel=9)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a web server must read it
        os.replace(tmp, zip_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return zip_path.stat().st_size
