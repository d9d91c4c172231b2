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


def test_the_workflow_runs_the_ci_script_and_deploys_the_built_site():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as True
    assert "push" in triggers and "pull_request" in triggers
    build = workflow["jobs"]["build-and-test"]
    runs = [step.get("run") for step in build["steps"]]
    assert "bash .ci/run" in runs
    upload = next(s for s in build["steps"] if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build-and-test"
    assert any("deploy-pages" in s.get("uses", "") for s in deploy["steps"])
    assert "refs/heads/main" in deploy["if"]


def test_the_ci_script_installs_builds_and_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements.txt" in script
    assert "jupyter-book build -W -n --keep-going ." in script
    assert "pytest --nbval" in script and "pytest --nbval" in readme


def test_the_book_config_points_launch_buttons_and_thebe_at_the_notebooks():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["execute"]["allow_errors"] is False
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["notebook_interface"] == "jupyterlab"
    assert config["launch_buttons"]["thebe"] is True
    assert set(config["repository"]) == {"url", "path_to_book", "branch"}
    assert (ROOT / config["logo"]).is_file()
    for path in config["bibtex_bibfiles"]:
        assert (ROOT / path).is_file()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = {part["caption"]: [c["file"] for c in part["chapters"]] for part in toc["parts"]}
    notebooks = sorted(f"book/{p.stem}" for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert parts["Chapters"] == notebooks, "every chapter notebook is in the table of contents, in order"
    assert parts["About the book"] == ["book/reproducibility"]


def test_ci_caches_pip_keeps_the_report_of_a_failed_run_and_checks_links_weekly():
    workflows = ROOT / ".github" / "workflows"
    for name in ("book.yml", "benchmark.yml", "linkcheck.yml"):
        steps = next(iter(yaml.safe_load((workflows / name).read_text())["jobs"].values()))["steps"]
        python = next(s for s in steps if "setup-python" in s.get("uses", ""))
        assert python["with"]["cache"] == "pip", name
        assert "requirements.txt" in python["with"]["cache-dependency-path"], name
    build = yaml.safe_load((workflows / "book.yml").read_text())["jobs"]["build-and-test"]
    keep = next(s for s in build["steps"] if "upload-artifact" in s.get("uses", ""))
    assert keep["if"] == "failure()"
    assert "_build/ci/" in keep["with"]["path"] and "_build/screenshots/" in keep["with"]["path"]
    assert "--junitxml=_build/ci/junit.xml" in (ROOT / ".ci" / "run").read_text()
    assert "tee _build/ci/pytest.log" in (ROOT / ".ci" / "run").read_text()
    links = yaml.safe_load((workflows / "linkcheck.yml").read_text())
    assert links[True]["schedule"][0]["cron"].split()[2:] == ["*", "*", "1"]  # weekly
    runs = [s.get("run", "") for s in links["jobs"]["linkcheck"]["steps"]]
    assert "jupyter-book build . --builder linkcheck" in runs
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], u["directory"]) for u in dependabot["updates"]}
    assert watched == {("pip", "/"), ("pip", "/binder"), ("github-actions", "/")}


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
    assert {name for _, name in included} >= {"DepthNet", "_cost_volume", "fit",
                                              "scale_invariant_loss"}
    for path, name in included:
        tree = ast.parse((ROOT / "book" / path).read_text())
        assert any(getattr(node, "name", None) == name for node in tree.body), (path, name)
    assert ":start-at: for step in bar:" in text
    assert "for step in bar:" in (ROOT / "book" / "depthlab" / "learned.py").read_text()
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
