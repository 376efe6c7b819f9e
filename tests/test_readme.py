"""The README's Python snippet runs exactly as printed, and what its comments claim is true.

Issue 18: it did not run (files that do not exist, an undefined ``photo_pixels``, a
``template`` that is None under the default, ``localize`` refusing the tensors ``explain``
takes). The photos it names are the ones `make demo` writes, written here the same way.
"""

from __future__ import annotations

import re

import pytest
import torch

from thinktwice.cli.commands.demo import demo_photos

from .conftest import PROJECT_ROOT


def _snippet() -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Use it from Python") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README has a Python snippet under 'Use it from Python'"
    return match.group(1)


def test_the_readme_snippet_runs_as_printed(tmp_path, monkeypatch):
    pytest.importorskip("skimage", reason="the demo photos come from scikit-image (demo extra)")
    folder = tmp_path / "out" / "photos"
    folder.mkdir(parents=True)
    demo_photos(folder)  # what `make demo` writes to out/photos/
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(_snippet(), "README.md", "exec"), namespace)  # noqa: S102 - the point
    result, box = namespace["result"], namespace["box"]
    assert tuple(result.saliency.shape) == (3, 224, 224)
    assert result.class_names == ["tabby", "Egyptian cat", "espresso"]
    assert result.image_index.tolist() == [0, 0, 1]
    assert result.scores.shape[1] == 3 and result.scores.shape[0] >= 2
    assert result.template is None
    assert box.box is not None and box.reason is None
    assert box.box.x1 < 451 and box.box.y1 < 300  # chelsea.png's own pixels (451 x 300)
