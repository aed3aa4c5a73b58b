"""The README's plug-and-play example runs as shown."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


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


def test_data_section_example_registers_a_data_set_and_a_reader(tmp_path):
    from das_core.data import SUPPORTED_EXTENSIONS, dataset_names, load_sequence, unregister_dataset, unregister_reader

    data = README.read_text().split("## Data", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", data, re.S).group(1)
    namespace: dict = {}
    try:
        exec(compile(code, "README.md", "exec"), namespace)
        assert tuple(namespace["x"].shape) == (8, 1, 32, 32) and namespace["y"] == 0
        assert "tiny-noise" in dataset_names() and ".vol" in SUPPORTED_EXTENSIONS
        p = tmp_path / "scan.vol"
        p.write_bytes(bytes(range(256)) * 16)  # 4 slices of 32 x 32
        assert tuple(load_sequence(p)[0].shape) == (4, 1, 32, 32)
    finally:
        unregister_dataset("tiny-noise")
        unregister_reader("read_vol")


def test_the_tau_formula_is_quoted_as_the_sampler_defines_it():
    """The adaptive temperature is written once (das_core.samplers.das.TAU_FORMULA); the README, the method notes
    and the DAS docstrings quote it, so a change to one shows as a failure here."""
    import das_core.samplers.das as das

    for path in (ROOT / "README.md", ROOT / "docs" / "method-notes.md"):
        assert das.TAU_FORMULA in path.read_text(encoding="utf-8"), path
    assert das.TAU_FORMULA in das.__doc__ and das.TAU_RANGE in das.DASConfig.__doc__
