"""The committed notebooks are the output of the current notebooks/build.py.

Each notebook is executed again (on data/sample, against the installed
package) and every printed text output (stdout and plain results; not the
images, not timings: the notebooks print none) must equal the committed one.
The exports in notebooks-export/ are converted from those committed notebooks
by the same script.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from conftest import ROOT

if not os.environ.get("CI"):
    pytest.importorskip("nbclient")

_spec = importlib.util.spec_from_file_location("nb_build", ROOT / "notebooks" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.mark.parametrize(
    "name",
    [
        "waste-vs-volume",
        "investigation",
        pytest.param("spark-local", marks=pytest.mark.spark),
    ],
)
def test_committed_notebook_is_current(name):
    import nbformat

    committed = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    for ext in ("md", "html"):
        assert (ROOT / "notebooks-export" / f"{name}.{ext}").exists(), (name, ext)
    fresh = build.execute(name)
    # Same cells (the script's source) and the same printed outputs.
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        f"{name}: notebooks/{name}.ipynb is not built from the current build.py; "
        "run python notebooks/build.py"
    )
    assert build.text_outputs(committed) == build.text_outputs(fresh), (
        f"{name}: outputs changed; run python notebooks/build.py and commit the result"
    )
    md = (ROOT / "notebooks-export" / f"{name}.md").read_text()
    for text in build.text_outputs(committed):
        for line in text.splitlines():
            if line.strip():
                assert line.rstrip() in md, (name, line)
