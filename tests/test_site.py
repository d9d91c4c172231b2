"""Browser test of the built site: the crossover explorer responds without a kernel.

Builds the book if no build is there (or it is older than the chapter), serves `_build/html`
on 127.0.0.1, opens the crossover chapter in headless Chromium, moves the data-size slider
with the keyboard and checks that another figure is shown. Skips when Chromium or Playwright
is missing.
"""
import functools
import http.server
import pathlib
import shutil
import subprocess
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
PAGE = SITE / "book" / "04_crossover.html"
NOTEBOOK = ROOT / "book" / "04_crossover.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium browser installed "
                                "(apt-get install chromium)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    if not PAGE.is_file() or PAGE.stat().st_mtime < NOTEBOOK.stat().st_mtime:
        subprocess.run(["jupyter-book", "build", "-W", "-n", "--keep-going", str(ROOT)],
                       check=True, cwd=ROOT, timeout=900)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _visible_images(page):
    return page.evaluate("() => Array.from(document.querySelectorAll('.widget-image'))"
                         ".filter(i => i.offsetParent !== null).map(i => i.src)")


def test_data_size_slider_changes_the_figure_without_a_kernel(site):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            # The site must work offline: requests leaving 127.0.0.1 are refused.
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(site) else route.abort())
            page.goto(f"{site}/book/04_crossover.html")
            slider = page.locator(".widget-slider", has=page.locator(
                ".widget-label", has_text="training scenes"))
            slider.first.wait_for(timeout=60_000)
            handle = slider.first.locator(".noUi-handle")
            readout = slider.first.locator(".widget-readout")
            before_value, before_images = readout.inner_text(), _visible_images(page)
            handle.focus()
            handle.press("ArrowRight")
            page.wait_for_function(
                "before => document.querySelectorAll('.widget-image').length > 0 && "
                "Array.from(document.querySelectorAll('.widget-image'))"
                ".filter(i => i.offsetParent !== null).map(i => i.src).join() !== before",
                arg=",".join(before_images), timeout=10_000)
            assert readout.inner_text() != before_value
            assert _visible_images(page) != before_images
        finally:
            browser.close()
