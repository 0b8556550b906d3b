"""spoken-digits: eSpeak NG's utterances on a tiny grid are the same bytes twice, the clip path (resample, trim,
normalise, centre) against a direct computation, and a missing or broken eSpeak NG is one line saying what to
install. Every test synthesises at most a handful of words (a fresh process each)."""
import hashlib
import importlib.util
import sys

import numpy as np
import pytest
import scipy.signal
import torch

from smlib.data import spoken_digits as sd
from smlib.data.spoken_digits import (DEFAULT_GRID, TINY_GRID, DigitGrid, EspeakUnavailableError,
                                      build_spoken_digits, load_spoken_digits, to_clip)

needs_espeak = pytest.mark.skipif(importlib.util.find_spec("espeakng_loader") is None,
                                  reason="espeakng-loader not installed (make venv installs it)")


@pytest.fixture
def tmp_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SMLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_default_grid_is_split_by_speaker():
    train, test = DEFAULT_GRID.utterances("train"), DEFAULT_GRID.utterances("test")
    assert len(train) == 4320 and len(test) == 1440
    assert {u[2] for u in train}.isdisjoint({u[2] for u in test})
    assert {u[2] for u in test} == set(DEFAULT_GRID.test_variants)
    # every digit equally often in each split
    assert np.bincount([u[0] for u in train]).tolist() == [432] * 10


def test_grid_rejects_unknown_test_speaker():
    with pytest.raises(ValueError, match="test_variants"):
        DigitGrid(test_variants=("nobody",))
    with pytest.raises(ValueError, match="split"):
        DEFAULT_GRID.utterances("validation")


def test_to_clip_matches_direct_computation():
    # a tone burst with silence around it, at eSpeak's rate
    rng = np.random.default_rng(0)
    n = 22050
    burst = (np.sin(2 * np.pi * 300 * np.arange(6000) / n) * 12000 + rng.normal(0, 50, 6000)).astype(np.int16)
    wave = np.concatenate([np.zeros(3000, np.int16), burst, np.zeros(5000, np.int16)])
    clip, cut = to_clip(wave, 8000)
    assert clip.dtype == np.int16 and clip.shape == (8000,) and not cut
    x = scipy.signal.resample_poly(wave / 32768.0, 160, 441)
    loud = np.nonzero(np.abs(x) >= 0.01 * np.abs(x).max())[0]
    y = x[loud[0]:loud[-1] + 1] * 0.9 / np.abs(x).max()
    ref = np.zeros(8000)
    ref[(8000 - len(y)) // 2:(8000 - len(y)) // 2 + len(y)] = y
    np.testing.assert_array_equal(clip, np.round(ref * 32767).astype(np.int16))
    assert abs(np.abs(clip).max() / 32767 - 0.9) < 1e-4


def test_long_clip_keeps_central_second():
    wave = (np.ones(30000) * 1000).astype(np.int16)
    wave[:10] = 0
    clip, cut = to_clip(wave, 8000)
    assert cut and clip.shape == (8000,)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(a.tobytes()).hexdigest()


@needs_espeak
def test_tiny_grid_same_bytes_twice():
    a = build_spoken_digits(TINY_GRID, 8000, verify_every=1)
    b = build_spoken_digits(TINY_GRID, 8000, verify_every=None)
    for split in ("train", "test"):
        assert a[split][0].shape == (3, 8000) and a[split][1].tolist() == [0, 1, 2]
        assert _sha(a[split][0]) == _sha(b[split][0])
    assert a["meta"]["espeak_version"] == "1.52.0" and a["meta"]["clips_cut"] == 0
    # speakers differ: the two splits are different waveforms
    assert _sha(a["train"][0]) != _sha(a["test"][0])


@needs_espeak
def test_cached_load_is_float_in_range(tmp_cache):
    x, y = load_spoken_digits("train", 4000, grid=TINY_GRID)
    assert x.shape == (3, 1, 4000) and x.dtype == torch.float32 and y.tolist() == [0, 1, 2]
    assert x.abs().max() <= 0.9 + 1e-4
    assert sd.cache_path(TINY_GRID, 4000).is_file()
    x2, _ = load_spoken_digits("train", 4000, grid=TINY_GRID)   # from the cache
    assert torch.equal(x, x2)


def test_missing_espeak_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)   # import fails
    with pytest.raises(EspeakUnavailableError) as e:
        sd.espeak_paths("wheel")
    msg = str(e.value)
    assert "\n" not in msg and "pip install espeakng-loader==0.2.4" in msg


@needs_espeak
def test_broken_espeak_is_one_line(tmp_path, monkeypatch):
    broken = tmp_path / "libespeak-ng.so"
    broken.write_bytes(b"not a library")
    (tmp_path / "espeak-ng-data").mkdir()
    monkeypatch.setattr(sd, "espeak_paths", lambda backend="wheel": (str(broken), str(tmp_path)))
    with pytest.raises(EspeakUnavailableError) as e:
        sd.synthesize([("one", "en-us", 50, 170)])
    assert "\n" not in str(e.value) and "does not load" in str(e.value) and "pip install" in str(e.value)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        sd.espeak_paths("cloud")
