"""The README's plug-and-play example runs as shown."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_plug_and_play_example_runs(capsys):
    text = README.read_text()
    section = text.split("## Plug into your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    sel, model = namespace["sel"], namespace["model"]
    assert sel.indices.shape == (8, 14)
    assert any(p.grad is not None for p in model.sampler.parameters())
    assert "torch.Size([8, 14, 28])" in capsys.readouterr().out


def test_quick_start_shows_the_two_commands():
    quick = README.read_text().split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick and "make test" in quick
