"""Tests of the built site, as a reader's browser sees it.

The site is built if it is missing or older than its sources, and served on 127.0.0.1. Every
page is opened in headless Chromium with requests to other hosts refused, so the site must work
on its own. The browser tests skip, saying why, when no Chromium (or Google Chrome) or no
Playwright is installed. Full-page screenshots go to ``_build/screenshots/`` for review.
"""
import functools
import html.parser
import http.server
import json
import pathlib
import re
import shutil
import subprocess
import threading
import urllib.parse

import pytest

# The site must be built first, and most tests drive a browser: the slow tier.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
SOURCES = {"intro": ROOT / "book" / "intro.md",
           **{p.stem: p for p in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))},
           "reproducibility": ROOT / "book" / "reproducibility.ipynb"}
CHAPTERS = [name for name in SOURCES if name not in ("intro", "reproducibility")]
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome"))), None)

# The widget views stored in a page, and how many of them drew something.
WIDGETS_DRAWN = """() => {
  const views = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]');
  const drawn = Array.from(views).filter(view => {
    const area = view.parentElement.querySelector('.jupyter-widgets');
    return area !== null && area.getBoundingClientRect().height > 0;
  });
  return [views.length, drawn.length];
}"""

# The images shown (not hidden in a stack) inside one widget box.
SHOWN_IMAGES = """box => Array.from(box.querySelectorAll('.widget-image'))
    .filter(image => image.offsetParent !== null).map(image => image.src).join(' ')"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _page_file(name):
    return SITE / "book" / f"{name}.html"


@pytest.fixture(scope="module")
def site():
    """The built site, served on 127.0.0.1 for the duration of the tests."""
    newest = max(p.stat().st_mtime for p in [*SOURCES.values(), ROOT / "_config.yml",
                                              ROOT / "_toc.yml"])
    if not all(_page_file(n).is_file() and _page_file(n).stat().st_mtime >= newest
               for n in SOURCES):
        subprocess.run(["jupyter-book", "build", "-W", "-n", "--keep-going", str(ROOT)],
                       check=True, cwd=ROOT, timeout=900)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if BROWSER is None:
        pytest.skip("no Chromium or Google Chrome installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=BROWSER,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        yield launched
        launched.close()


def _open(browser, site, name):
    """Opens a page offline; returns it and the list of JavaScript errors it reports."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    # Requests to other hosts (MathJax's CDN, for one) are refused: failing to load them is the
    # test's doing, not the page's, so only errors about the site's own files count.
    page.on("console", lambda message: errors.append(f"console: {message.text}")
            if message.type == "error"
            and message.location.get("url", "").startswith(site) else None)
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith(site) else route.abort())
    page.goto(f"{site}/book/{name}.html", wait_until="load")
    return page, errors


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_page_draws_its_widgets_without_javascript_errors(browser, site, name):
    page, errors = _open(browser, site, name)
    try:
        page.wait_for_function(f"({WIDGETS_DRAWN})()[0] === ({WIDGETS_DRAWN})()[1]",
                               timeout=30_000)
        views, drawn = page.evaluate(WIDGETS_DRAWN)
        assert views == drawn
        if name in CHAPTERS:
            assert views > 0, "every chapter has at least one interactive figure"
            exercises = page.locator("section#exercises")
            assert exercises.count() == 1, "every chapter ends with exercises"
            exercises.scroll_into_view_if_needed()
            assert exercises.is_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")  # sticky bars are drawn where the view is
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
        assert errors == []
    finally:
        page.close()


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_kernel_free_figure_changes_when_its_control_moves(browser, site, name):
    page, errors = _open(browser, site, name)
    try:
        page.wait_for_function(f"({WIDGETS_DRAWN})()[0] === ({WIDGETS_DRAWN})()[1]",
                               timeout=30_000)
        boxes = page.locator(".widget-vbox", has=page.locator(".widget-slider"))
        assert boxes.count() > 0
        for b in range(boxes.count()):
            box = boxes.nth(b)
            for s in range(box.locator(".widget-slider").count()):
                handle = box.locator(".widget-slider").nth(s).locator(".noUi-handle")
                before = box.evaluate(SHOWN_IMAGES)
                # move to the other end from where the slider starts, then back
                at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute(
                    "aria-valuemax")
                handle.focus()
                handle.press("Home" if at_end else "End")
                page.wait_for_function(f"([box, before]) => ({SHOWN_IMAGES})(box) !== before",
                                       arg=[box.element_handle(), before], timeout=10_000)
                handle.press("End" if at_end else "Home")
        assert errors == []
    finally:
        page.close()


def test_the_data_size_slider_changes_the_crossover_figure(browser, site):
    page, _ = _open(browser, site, "05_crossover")
    try:
        slider = page.locator(".widget-slider", has=page.locator(
            ".widget-label", has_text="training scenes")).first
        slider.wait_for(timeout=30_000)
        box = page.locator(".widget-vbox", has=slider).first
        readout = slider.locator(".widget-readout")
        before_value, before = readout.inner_text(), box.evaluate(SHOWN_IMAGES)
        slider.locator(".noUi-handle").focus()
        slider.locator(".noUi-handle").press("ArrowRight")
        page.wait_for_function(f"([box, before]) => ({SHOWN_IMAGES})(box) !== before",
                               arg=[box.element_handle(), before], timeout=10_000)
        assert readout.inner_text() != before_value
    finally:
        page.close()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "a" and key == "src"):
                self.targets.append(attrs[key])


def test_the_status_page_shows_every_chapter_measured(browser, site):
    page = browser.new_page()
    page.goto(f"{site}/book/reproducibility.html")
    status = json.loads((ROOT / "book" / "status.json").read_text())
    table = page.locator("table").first
    rows = table.locator("tbody tr")
    assert rows.count() == len(CHAPTERS) + 1  # and the whole book
    for i, name in enumerate(CHAPTERS):
        link = rows.nth(i).locator("a")
        assert link.get_attribute("href").startswith(f"{name}.html")
        assert rows.nth(i).locator("td").nth(1).inner_text() == \
            f"{status['chapters'][name]['cold']['seconds']:.0f}"
    assert "{doc}" not in page.inner_text("main")  # the MyST roles were rendered
    page.close()


def test_no_page_links_to_a_missing_file(site):
    missing = []
    pages = [p for p in sorted(SITE.rglob("*.html"))
             if p.relative_to(SITE).parts[0] not in ("_static", "_sources")]  # theme templates
    assert len(pages) >= len(SOURCES)
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for target in parser.targets:
            parts = urllib.parse.urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path:
                continue  # another site, a mailto: link, or an anchor on the same page
            resolved = (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if not resolved.exists():
                missing.append(f"{page.relative_to(SITE)} -> {target}")
    assert missing == []


def test_the_site_ships_no_source_maps_and_fits_its_budget(site):
    # The budget of DESIGN.md: 30 MB for the whole built site.
    assert list(SITE.rglob("*.map")) == []
    assert sum(p.stat().st_size for p in SITE.rglob("*") if p.is_file()) <= 30e6
    # The downloadable notebooks are the chapters without their outputs (book/_ext).
    downloads = sorted((SITE / "_sources" / "book").glob("*.ipynb"))
    assert [p.stem for p in downloads] == sorted([*CHAPTERS, "reproducibility"])
    for path in downloads:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        assert "widgets" not in notebook["metadata"]
        assert all(not c.get("outputs") for c in notebook["cells"]), path.name


@pytest.mark.parametrize("name", CHAPTERS)
def test_thebe_starts_its_kernel_in_the_folder_of_the_notebooks(site, name):
    # `import depthlab` works from book/, where the notebooks are.
    page = _page_file(name).read_text(encoding="utf-8")
    assert re.search(r'kernelOptions:\s*{\s*name: "python3",\s*path: "\./book"', page)


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_offers_binder_and_colab(site, name):
    page = _page_file(name).read_text(encoding="utf-8")
    colab = "https://colab.research.google.com/github/software-2-0-2-0/book/blob/main/book"
    assert f"{colab}/{name}.ipynb" in page
    assert "https://mybinder.org/v2/gh/software-2-0-2-0/book/main" in page


def test_the_intro_shows_the_crossover_figure_first(site):
    page = _page_file("intro").read_text(encoding="utf-8")
    body = page[page.index('<article class="bd-article"'):]
    first_image = re.search(r'<img[^>]+src="([^"]+)"', body)[1]
    assert (SITE / "book" / first_image).resolve().is_file()
    assert body.index(first_image) < body.index("The two ways to solve one problem")
