"""Headless Chromium for the report's tests, benchmark and README screenshot.

Debian's ``chromium`` (installed by ``make test`` with apt-get when it can) driven
by playwright's Python package; playwright's own browser downloads are never
used. Run as a script it screenshots a report's gallery:

    .venv/bin/python -m tests.browser RUN_DIR/report.html docs/img/report-gallery.png
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium executable: $CHROMIUM, else Debian's, else None."""
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def missing_browser() -> str | None:
    """Why no browser test can run here, None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return (
            "no Chromium at /usr/bin/chromium ($CHROMIUM): `make test` installs Debian's "
            "chromium with apt-get, which was not possible on this machine"
        )
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (fresh temporary profile) as a playwright Browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


def open_report(browser: Any, html: Path, width: int = 1400, height: int = 1000) -> Any:
    """A page showing ``html`` once its gallery is drawn; ``page.problems`` collects console
    errors, page errors and any request that is not for the file itself or a data: URL."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.problems = []
    page.on(
        "console",
        lambda m: (
            page.problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    url = html.resolve().as_uri()
    page.on(
        "request",
        lambda r: (
            page.problems.append(f"request: {r.url[:80]}")
            if r.url != url and not r.url.startswith("data:")
            else None
        ),
    )
    page.goto(url)
    page.wait_for_selector("body[data-rendered]", timeout=60_000)
    return page


def screenshot_gallery(html: Path, png: Path, rows: int = 3) -> None:
    """A screenshot of the top of the gallery: controls, paired table and ``rows`` rows."""
    with chromium() as browser:
        page = open_report(browser, html, width=1100, height=800)
        page.select_option("#page-size", "10")
        page.wait_for_function("window.thinktwiceReport.renders >= 2")
        top = page.eval_on_selector("#gallery-section", "e => e.getBoundingClientRect().top")
        row = page.locator("table.gallery tbody tr").nth(rows - 1)
        bottom = row.evaluate("e => e.getBoundingClientRect().bottom")
        page.screenshot(
            path=str(png),
            full_page=True,
            clip={"x": 0, "y": top - 8, "width": 1100, "height": bottom - top + 16},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=screenshot_gallery.__doc__)
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--rows", type=int, default=3)
    args = parser.parse_args()
    reason = missing_browser()
    if reason:
        raise SystemExit(reason)
    screenshot_gallery(args.html, args.png, args.rows)


if __name__ == "__main__":
    main()
