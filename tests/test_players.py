"""Audio players (smlib.players): the WAV each player embeds, read back by scipy, holds exactly the clip's samples
at its rate; floats in [-1, 1] are scaled by 32767 and rounded; bad clips are one line."""
import base64
import io
import re

import numpy as np
import pytest
from scipy.io import wavfile

from smlib.players import pcm16, players, wav_bytes
from smlib.results import pack_int16, unpack_int16


def embedded_wavs(html: str) -> list[tuple[int, np.ndarray]]:
    """(rate, samples) of every base64 WAV in the players' HTML, decoded by scipy."""
    return [wavfile.read(io.BytesIO(base64.b64decode(b)))
            for b in re.findall(r'src="data:audio/[\w-]+;base64,([A-Za-z0-9+/=]+)"', html)]


def test_each_player_embeds_the_clip_exactly():
    rng = np.random.default_rng(0)
    clips = rng.integers(-32768, 32767, size=(3, 800), dtype=np.int16)
    floats = np.array([0.0, 1.0, -1.0, 0.5, -0.25])
    shown = players({"a": list(clips[:2]), "b & c": [clips[2], floats]}, rate=8000, caption="x < y")
    html = shown._repr_html_()
    wavs = embedded_wavs(html)
    assert [rate for rate, _ in wavs] == [8000] * 4
    for (_, got), want in zip(wavs[:3], clips):
        assert got.dtype == np.int16 and np.array_equal(got, want)
    assert np.array_equal(wavs[3][1], [0, 32767, -32767, 16384, -8192])     # round(x * 32767)
    assert "b &amp; c" in html and "x &lt; y" in html
    assert repr(shown).splitlines() == ["x < y", "a: 2 clips of 0.10, 0.10 s at 8000 Hz",
                                        "b & c: 2 clips of 0.10, 0.00 s at 8000 Hz"]


def test_a_committed_result_plays_what_it_packed():
    wave_ = np.sin(np.linspace(0, 50, 4000)) * 0.3
    packed = pack_int16(wave_[None])
    committed = unpack_int16(packed)[0]
    rate, got = wavfile.read(io.BytesIO(wav_bytes(committed, 4000)))
    assert rate == 4000 and np.array_equal(got, committed)
    assert np.abs(got - wave_ * 32767).max() <= 1                       # float32 rounding when packed


def test_bad_clips_are_one_line():
    with pytest.raises(ValueError, match="1-D array"):
        pcm16(np.zeros((1, 10)))
    with pytest.raises(ValueError, match="peak is 2"):
        pcm16(np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="int16 PCM or floats"):
        pcm16(np.array([1, 2], dtype=np.int32))
