"""Audio players for the book: labelled rows of clips, each an HTML5 ``<audio>`` element that carries its WAV
inline, so the rendered book plays the committed samples with no file beside it.

    from smlib.players import players
    display(players({"data, test split": data_clips, "EDM, seed 0": run_clips}, rate=8000,
                    caption="four clips of each"))

A clip is a 1-D array of PCM samples: int16 as a result carries them (:func:`smlib.results.unpack_int16`), or floats
in [-1, 1]. The WAV is written by the standard library's :mod:`wave` (mono, 16-bit, exactly the given samples) and
embedded by IPython's :class:`IPython.display.Audio` as a base64 data URI (the book is static HTML: no file to serve).
"""
from __future__ import annotations

import html
import io
import wave
from collections.abc import Mapping, Sequence

import numpy as np
from IPython.display import Audio


def pcm16(clip) -> np.ndarray:
    """(L,) int16 samples of a clip: int16 kept as it is, floats in [-1, 1] scaled by 32767 and rounded. A clip
    that is not one-dimensional, or floats outside [-1, 1], is one line saying what it got."""
    x = np.asarray(clip)
    if x.ndim != 1:
        raise ValueError(f"a clip is a 1-D array of samples; got shape {x.shape} (index one clip, or squeeze its "
                         "channel axis).")
    if x.dtype == np.int16:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"a clip is int16 PCM or floats in [-1, 1]; got dtype {x.dtype}.")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > 1.0:
        raise ValueError(f"a float clip must lie in [-1, 1]; its peak is {peak:.3g} (divide by the data scale, or "
                         "clip it, first).")
    return np.round(x * 32767).astype(np.int16)


def wav_bytes(clip, rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``clip`` at ``rate`` Hz, as bytes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm16(clip).astype("<i2").tobytes())
    return buf.getvalue()


class Players:
    """Rows of labelled players, shown as HTML in the book (the players of a row wrap on a narrow page) and as one
    plain line per row in text."""

    def __init__(self, rows: Mapping[str, Sequence], rate: int, caption: str | None = None):
        self.rows = {label: [pcm16(c) for c in clips] for label, clips in rows.items()}
        self.rate, self.caption = int(rate), caption

    def _player(self, clip: np.ndarray) -> str:
        # the player fills its cell, so a row wraps instead of widening the page
        return Audio(data=wav_bytes(clip, self.rate))._repr_html_().replace("<audio ", '<audio style="width: 100%" ', 1)

    def _repr_html_(self) -> str:
        cap = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        rows = "".join(
            f'<div style="margin: 0.3em 0"><div>{html.escape(label)}</div>'
            f'<div style="display: flex; flex-wrap: wrap; gap: 0.4em">'
            + "".join(f'<div style="width: 14em">{self._player(c)}</div>' for c in clips)
            + "</div></div>" for label, clips in self.rows.items())
        return f'<figure class="sm-players">{cap}{rows}</figure>'

    def __repr__(self) -> str:
        lines = [self.caption] if self.caption else []
        lines += [f"{label}: {len(clips)} clips of {', '.join(f'{len(c) / self.rate:.2f}' for c in clips)} s at "
                  f"{self.rate} Hz" for label, clips in self.rows.items()]
        return "\n".join(lines)


def players(rows: Mapping[str, Sequence], rate: int, caption: str | None = None) -> Players:
    """``{label: clips}`` -> an object a notebook displays as rows of audio players (see the module)."""
    return Players(rows, rate, caption)


__all__ = ["pcm16", "wav_bytes", "Players", "players"]
