"""The package's public interface: its conventions, the frames it accepts, and its install."""
import importlib
import inspect
import os
import pathlib
import pkgutil
import shutil
import site
import subprocess
import venv

import cv2
import numpy as np
import pytest

import depthlab
from depthlab import classical, learned, world

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _public_functions():
    """(qualified name, function) of every function in a module's ``__all__`` that the module
    defines."""
    names = [m.name for m in pkgutil.walk_packages(depthlab.__path__, "depthlab.")
             if not m.name.endswith("__main__")]
    for module in map(importlib.import_module, names):
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


PUBLIC = dict(_public_functions())


def test_there_are_public_functions_to_check():
    assert len(PUBLIC) > 80
    assert "depthlab.classical.pipeline.estimate_depth" in PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_options_are_keyword_only_past_three_parameters(name):
    parameters = inspect.signature(PUBLIC[name]).parameters.values()
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(named) > 3:
        positional_options = [p.name for p in named
                              if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty]
        assert not positional_options, f"{name}: make {positional_options} keyword-only"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_progress_is_a_keyword_only_flag_that_defaults_to_on(name):
    progress = inspect.signature(PUBLIC[name]).parameters.get("progress")
    if progress is not None:
        assert progress.kind == progress.KEYWORD_ONLY
        assert progress.default is True and progress.annotation in (bool, "bool")


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstrings_have_parameters_and_returns(name):
    function = PUBLIC[name]
    doc = inspect.getdoc(function) or ""
    signature = inspect.signature(function)
    if signature.parameters:
        assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
        for parameter in signature.parameters.values():
            shown = {parameter.VAR_POSITIONAL: "*", parameter.VAR_KEYWORD: "**"}.get(
                parameter.kind, "") + parameter.name
            assert shown in doc.split("Parameters\n----------")[1], \
                f"{name}: parameter {shown} is not described"
    if signature.return_annotation not in (None, "None"):
        assert "Returns\n-------" in doc or "Yields\n------" in doc, f"{name}: no Returns section"


# Frames as users make them --------------------------------------------------------------

SCENE = world.render_scene(0, 0)


@pytest.fixture(scope="module")
def model():
    return learned.train(4, config=learned.TrainConfig(steps=2, batch=2, crop=(32, 48), threads=1),
                         progress=False)


def _resized(frame):
    """A frame resized as a user would: float in [0, 1], area averaging (can exceed 1)."""
    h, w = frame.shape
    return cv2.resize(frame, (w + 7, h + 5), interpolation=cv2.INTER_AREA)


def test_area_resizing_can_leave_a_frame_just_above_one():
    bright = np.clip(SCENE.frame0 * 1.7, 0, 1).astype(np.float32)
    assert _resized(bright).max() >= 1.0  # the case the check must absorb


@pytest.mark.parametrize("make", [
    lambda f: _resized(np.clip(f * 1.7, 0, 1).astype(np.float32)),  # rounding above 1
    lambda f: f.astype(np.float64),                                 # float64
    lambda f: f[:-1, :-3],                                          # odd sizes
    lambda f: np.asfortranarray(f),                                 # column-major
    lambda f: np.repeat(f, 2, axis=1)[:, ::2],                      # a strided view
    lambda f: (f * 255).round().astype(np.uint8),                   # uint8
], ids=["resized", "float64", "odd", "fortran", "strided", "uint8"])
def test_frames_as_users_make_them_are_accepted_by_both_methods(make, model):
    frame0, frame1 = make(SCENE.frame0), make(SCENE.frame1)
    depth = learned.predict(model, frame0, frame1)
    assert depth.shape == frame0.shape and np.isfinite(depth).all()
    batch = learned.predict_batch(model, frame0[None], frame1[None])
    np.testing.assert_allclose(batch[0], depth, rtol=1e-5)
    estimate = classical.run_pipeline(frame0, frame1).depth
    assert estimate.shape == frame0.shape and np.isfinite(estimate).all()


def test_a_layout_or_a_float_type_does_not_change_the_result(model):
    reference = learned.predict(model, SCENE.frame0, SCENE.frame1)
    for make in (np.asfortranarray, lambda f: f.astype(np.float64)):
        np.testing.assert_array_equal(learned.predict(model, make(SCENE.frame0),
                                                      make(SCENE.frame1)), reference)


def test_values_within_rounding_are_clipped_and_real_violations_are_named(model):
    frame = SCENE.frame0.copy()
    frame[3, 4] = 1.0000002
    np.testing.assert_array_equal(learned.predict(model, frame, SCENE.frame1),
                                  learned.predict(model,
                                                  np.clip(frame, 0, 1), SCENE.frame1))
    frame[5, 6] = 1.25
    with pytest.raises(ValueError, match=r"got 1\.25 at row 5, column 6"):
        classical.estimate_depth(frame, SCENE.frame1)
    frame[5, 6] = -0.5
    with pytest.raises(ValueError, match=r"frame0 .* got -0\.5 at row 5, column 6"):
        learned.predict(model, frame, SCENE.frame1)
    with pytest.raises(ValueError, match="at least one pair"):
        learned.predict_batch(model, SCENE.frame0[:0][None][:0],
                              SCENE.frame1[:0][None][:0])
    with pytest.raises(TypeError, match="uint8 or floating point"):
        learned.predict(model, SCENE.frame0.astype(np.int32), SCENE.frame1)


# The install ----------------------------------------------------------------------------

def _run(command, **kwargs):
    """Runs ``command``; on failure, the test fails with its whole output."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited with {done.returncode}\n"
                    f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}", pytrace=False)
    return done.stdout


def test_pip_install_e_makes_depthlab_importable_from_anywhere(tmp_path):
    """``pip install -e .`` in a fresh virtual environment, then ``import depthlab`` from ``/``.

    It installs a copy of what the package is built from (``pyproject.toml``, ``README.md``,
    ``LICENSE`` and ``book/depthlab``), so the checkout under test is never written to: an
    editable install writes ``book/depthlab.egg-info`` next to the package. The new environment
    sees the packages of the one running the tests, a system install or a virtual environment
    alike, through a ``.pth`` file, so pip, setuptools and the dependencies come from there and
    nothing is downloaded. (Built with ``system_site_packages``, it would see the *base*
    interpreter's packages instead: from inside a virtual environment those are not the ones
    ``requirements.txt`` installed, and their setuptools may be too old for ``pyproject.toml``.)
    """
    def written():  # what an install could write into the checkout, with its times
        return {str(p): p.stat().st_mtime_ns for p in (ROOT / "book").glob("*.egg-info*/**/*")}

    before = written()
    source = tmp_path / "source"
    (source / "book").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "book" / "depthlab", source / "book" / "depthlab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    outer = [p for p in site.getsitepackages() if pathlib.Path(p).is_dir()]
    (pathlib.Path(purelib.strip()) / "zz_test_environment.pth").write_text("\n".join(outer) + "\n")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "PIP_USER", "VIRTUAL_ENV")}
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
          "-e", str(source)], env=clean, cwd="/")
    probe = ("import depthlab, importlib.metadata as m; "
             "print(depthlab.__file__); print(m.distribution('depthlab').locate_file(''))")
    out = _run([str(python), "-c", probe], env=clean, cwd="/").splitlines()
    assert pathlib.Path(out[0]) == source / "book" / "depthlab" / "__init__.py"
    assert pathlib.Path(out[1]).resolve().is_relative_to(env.resolve())
    assert written() == before
