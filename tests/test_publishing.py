"""Tests of the publishing setup: Binder's requirements, the CI workflow and the book config."""
import importlib
import json
import pathlib
import re
import sys

import yaml
from pybtex.database import Entry, Person
from sphinx.builders.html._assets import _JavaScript

from depthlab import cpu

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _pins(path):
    """{package: version} of the ``name==version`` lines of a requirements file; the book's
    own package, installed in place by ``-e .``, is ``{"depthlab": "-e ."}``."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if match:
            pins[match[1].lower()] = match[2]
        elif line == "-e .":
            pins["depthlab"] = line
        elif line and not line.startswith("--"):
            raise AssertionError(f"{path.name}: not an exact pin: {line!r}")
    return pins


def test_binder_pins_the_same_versions_with_a_cpu_torch():
    root, binder = _pins(ROOT / "requirements.txt"), _pins(ROOT / "binder" / "requirements.txt")
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    assert binder["torch"] == root["torch"] + "+cpu"
    shared = set(root) & set(binder) - {"torch"}
    assert {name: binder[name] for name in shared} == {name: root[name] for name in shared}
    # Binder reads only binder/ when it exists: everything the notebooks import is there.
    for needed in ("jupyter-book", "ipywidgets", "ipykernel", "numpy", "scipy", "scikit-image",
                   "opencv-python-headless", "matplotlib", "tqdm", "sphinx-exercise", "depthlab"):
        assert needed in binder, needed
    assert re.fullmatch(r"python-3\.11\s*", (ROOT / "binder" / "runtime.txt").read_text())


def test_the_ci_script_runs_the_commands_the_readme_gives():
    script = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for command in ("pip install -r requirements.txt", "jupyter-book build -W -n --keep-going .",
                    "pytest --nbval", 'pytest -m "not slow"', "ruff check ."):
        assert command in readme, command
        assert command in script.replace("python3 -m ", "").replace('\\"', '"'), command


def test_every_chapter_is_in_the_table_of_contents_and_every_file_the_config_names_exists():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert (ROOT / config["logo"]).is_file()
    for path in config["bibtex_bibfiles"]:
        assert (ROOT / path).is_file()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = {part["caption"]: [c["file"] for c in part["chapters"]] for part in toc["parts"]}
    notebooks = sorted(f"book/{p.stem}" for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert parts["Chapters"] == notebooks, \
        "every chapter notebook is in the table of contents, in order"
    assert parts["About the book"] == ["book/reproducibility"]


def test_colab_opens_every_chapter_and_its_first_cell_installs_the_package_only_there(
        monkeypatch):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    ran = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: ran.append(a))
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        source = "".join(first["source"])
        assert f"git+{config['repository']['url']}" in source, path.name
        assert "remove-cell" in first["metadata"]["tags"] and first["outputs"] == []
        exec(compile(source, path.name, "exec"), {})  # not on Colab: nothing is installed
        assert ran == [], path.name
        monkeypatch.setitem(sys.modules, "google.colab", object())
        monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
        exec(compile(source, path.name, "exec"), {})  # on Colab, without the package
        assert ran and "depthlab[notebooks] @ git+" in " ".join(ran.pop()[0])
        monkeypatch.undo()
        monkeypatch.setattr("subprocess.run", lambda *a, **k: ran.append(a))


def _extension(name):
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_bibliography_labels_read_like_the_citations():
    labels = _extension("authoryear_labels")
    entries = [Entry("article", fields={"year": year}, persons={"author": [
        Person(name) for name in names]}) for names, year in (
        (["Lowe, David G."], "2004"),
        (["Fischler, Martin A.", "Bolles, Robert C."], "1981"),
        (["Hestness, Joel", "Narang, Sharan", "Ardalani, Newsha"], "2017"),
        (["Lowe, David G."], "2004"),
        (["Hirschm{\\\"u}ller, Heiko"], "2008"),
        (["van der Walt, Stéfan", "Schönberger, Johannes L."], "2014"))]
    assert list(labels.AuthorYearLabels().format_labels(entries)) == [
        "Lowe, 2004a", "Fischler and Bolles, 1981", "Hestness et al., 2017", "Lowe, 2004b",
        "Hirschmüller, 2008", "van der Walt and Schönberger, 2014"]


def test_each_page_script_is_kept_once():
    dedupe = _extension("dedupe_scripts")
    config = _JavaScript(None, body="const THEBE_JS_URL = 1")
    twin = _JavaScript("", body=config.attributes["body"])  # the same inline script again
    context = {"script_files": [_JavaScript("a.js"), config, twin, _JavaScript("a.js"),
                                _JavaScript("b.js", defer="defer")]}
    dedupe._keep_first(None, "page", "page.html", context, None)
    assert context["script_files"] == [_JavaScript("a.js"), config,
                                       _JavaScript("b.js", defer="defer")]


def test_every_notebook_is_stored_executed_in_order_without_errors():
    # The build only renders stored outputs (execution is off), so a stored error or an
    # unexecuted cell would reach the site unnoticed: this is the check that fails instead.
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        counts = [c["execution_count"] for c in cells]
        assert counts == list(range(1, len(cells) + 1)), f"{path.name}: run it top to bottom"
        errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
        assert errors == [], f"{path.name} stores an error output"




def test_the_readme_and_binder_run_notebooks_with_the_cpu_settings_of_the_test_run():
    # Notebooks stored, or run on Binder, with other settings would not match what
    # `pytest --nbval` recomputes (depthlab.cpu).
    readme = (ROOT / "README.md").read_text()
    start = ROOT / "binder" / "start"
    assert start.stat().st_mode & 0o111, "binder/start must be executable"
    assert start.read_text().rstrip().endswith('exec "$@"')
    for text in (readme, start.read_text()):
        for name, value in cpu.AVX2.items():
            assert f'{name}="{value}"' in text or f"{name}={value}" in text, name


def test_holding_to_avx2_keeps_an_explicit_setting():
    environ = {"ATEN_CPU_CAPABILITY": "default"}
    cpu.hold_to_avx2(environ)
    assert environ == {**cpu.AVX2, "ATEN_CPU_CAPABILITY": "default"}


def test_chapter_3_shows_the_network_and_its_training_step_from_the_package_source():
    import ast

    cells = json.loads((ROOT / "book" / "03_learned.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    included = re.findall(r"```\{literalinclude\} (\S+)\n:pyobject: (\S+)", text)
    assert {name for _, name in included} >= {"DepthNet", "_cost_volume", "fit", "_minibatch",
                                              "scale_invariant_loss"}
    for path, name in included:
        tree = ast.parse((ROOT / "book" / path).read_text())
        assert any(getattr(node, "name", None) == name for node in tree.body), (path, name)
    assert ":start-at: for step in bar:" in text
    training = ROOT / "book" / "depthlab" / "learned" / "training.py"
    assert "for step in bar:" in training.read_text()
    diagram = next(c for c in cells if c.get("id") == "depthnet-diagram")
    assert diagram["metadata"]["mystnb"]["figure"]["name"] == "fig-depthnet"


def test_the_intro_opens_with_the_crossover_figure_glued_from_chapter_5():
    intro = (ROOT / "book" / "intro.md").read_text()
    first = intro.split("\n## ")[0]  # before the first section
    assert "```{glue:any} fig_crossover_curves\n:doc: 05_crossover.ipynb\n```" in first
    cells = json.loads((ROOT / "book" / "05_crossover.ipynb").read_text())["cells"]
    glued = [o for c in cells for o in c.get("outputs", [])
             if o.get("metadata", {}).get("scrapbook", {}).get("name") == "fig_crossover_curves"]
    assert len(glued) == 1 and any(k.endswith("image/png") for k in glued[0]["data"])
