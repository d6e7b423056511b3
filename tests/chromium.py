"""Open a local page in Debian's headless Chromium (driven by Playwright; no browser download)
and record what a reader's browser would do: console messages, page errors, every request,
dialogs, the visible text, and a full-page screenshot.

Chromium is installed by `make chromium` (a prerequisite of `make test`); tests that need it
skip with the reason when it is missing.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "PageVisit", "require_chromium", "visit"]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@dataclass
class PageVisit:
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    text: str = ""
    scripts: int = 0  # <script> elements in the loaded DOM
    screenshot: Path | None = None

    @property
    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind in ("error", "warning")]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")


def visit(page_path: Path, screenshot: Path, probe: str | None = None) -> PageVisit:
    """Load `page_path` from file://, wait for it to settle, screenshot it. `probe`: a CSS
    selector whose elements' text is returned as `text` (default: the whole body)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    seen = PageVisit()
    profile = Path(tempfile.mkdtemp(prefix="friction-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), args=ARGS, headless=True, timeout=TIMEOUT_MS
            )
            try:
                context.on("request", lambda request: seen.requests.append(request.url))
                page = context.new_page()
                page.on("console", lambda message: seen.console.append((message.type, message.text)))
                page.on("pageerror", lambda error: seen.page_errors.append(str(error)))

                def on_dialog(dialog: object) -> None:
                    seen.dialogs.append(getattr(dialog, "message", "?"))
                    dialog.dismiss()  # type: ignore[attr-defined]

                page.on("dialog", on_dialog)
                page.goto(page_path.resolve().as_uri(), wait_until="load", timeout=TIMEOUT_MS)
                page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
                seen.text = (
                    "\n".join(page.locator(probe).all_inner_texts()) if probe else page.inner_text("body")
                )
                seen.scripts = page.locator("script").count()
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
                seen.screenshot = screenshot
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return seen
