"""Helpers for browser tests: record every problem a page shows, decode its images, run axe."""

from __future__ import annotations

from urllib.parse import urlsplit

# axe-core over WCAG 2.1 A/AA; "preload" off because it re-reads stylesheets by XMLHttpRequest,
# which file:// blocks (../shared/TESTING.md §8).
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "preload": False,
}
LOCAL_SCHEMES = ("file", "data", "blob")
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def watch(page) -> list[str]:
    """Start recording, for `page`: requests to any non-local host (aborted), console errors and
    warnings, uncaught exceptions, failed requests and HTTP errors. Returns the (live) list."""
    problems: list[str] = []

    def gate(route):
        u = urlsplit(route.request.url)
        if u.scheme in LOCAL_SCHEMES or u.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            problems.append(f"external request {route.request.url}")
            route.abort("blockedbyclient")

    def console(msg):
        if msg.type in ("error", "warning"):
            problems.append(f"console {msg.type}: {msg.text} @ {msg.location.get('url')}")

    page.route("**/*", gate)
    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def failed(r):
        # the browser fetches the favicon on its own; a click that navigates away cancels that
        # (ERR_ABORTED, seen under load); a missing file fails as ERR_FILE_NOT_FOUND or HTTP 404
        if not (r.url.endswith("/favicon.svg") and r.failure == "net::ERR_ABORTED"):
            problems.append(f"failed: {r.url} {r.failure}")

    page.on("requestfailed", failed)
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    return problems


def broken_images(page) -> list[str]:
    """Load every image, lazy ones included; the sources of those that did not decode."""
    page.evaluate(
        "() => Promise.all([...document.images].map(i => { i.loading = 'eager';"
        " return i.decode().catch(() => {}); }))"
    )
    return page.evaluate(
        "() => [...document.images].filter(i => !i.complete || !i.naturalWidth)"
        ".map(i => i.src.slice(0, 120))"
    )


def serious_axe_violations(page) -> list[str]:
    """axe violations of impact serious or critical, as 'rule: target' lines."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {n['target']} {n.get('failureSummary', '')[:160]}"
        for v in found
        if v["impact"] in ("serious", "critical")
        for n in v["nodes"]
    ]
