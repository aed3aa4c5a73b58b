"""Array helpers: frame resampling indices and intensity normalisation."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from das_core.data import DataError
from das_core.data.arrays import frames_to_sequence, normalise_intensity, resample_indices


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 500), t=st.integers(1, 200))
def test_resample_indices_properties(n, t):
    idx = resample_indices(n, t)
    assert len(idx) == t and idx.min() >= 0 and idx.max() <= n - 1
    assert np.all(np.diff(idx) >= 0) and idx[0] == 0
    if t > 1:
        assert idx[-1] == n - 1
    if n >= t:
        assert len(np.unique(idx)) == t  # no repeats unless the clip is shorter than T


def test_resample_none_and_errors():
    assert resample_indices(5, None).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(DataError):
        resample_indices(0, 4)
    with pytest.raises(DataError):
        resample_indices(5, 0)


def test_normalise_window_and_constant():
    a = np.array([-1000.0, 40.0, 240.0, 3000.0])
    assert normalise_intensity(a, (40, 400)).tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert normalise_intensity(np.full(3, 7.0)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(DataError, match="width"):
        normalise_intensity(a, (40, 0))


def test_frames_to_sequence_channels():
    rgba = np.zeros((2, 4, 6, 4), np.uint8)
    rgba[..., 0] = 255
    g = frames_to_sequence(rgba, grayscale=True, size=None)
    assert g.shape == (2, 1, 4, 6) and torch.allclose(g, torch.full_like(g, 0.299), atol=1e-3)
    c = frames_to_sequence(rgba[..., 0], grayscale=False, size=(2, 3))
    assert c.shape == (2, 3, 2, 3) and float(c.max()) == 1.0
