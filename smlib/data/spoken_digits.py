"""Spoken digits: "zero" ... "nine" synthesised with eSpeak NG over a fixed grid of voices, pitches and speeds.

**Synthetic speech, not a benchmark.** It stands in for SC09 (the ten digits of Speech Commands, the unconditional
set DiffWave trained on; Kong et al., ICLR 2021, arXiv 2009.09761), which cannot be downloaded here. Every number
computed on it is internal to this project: eSpeak NG is a formant synthesiser, far more regular than recorded
speech, and nothing measured on it is comparable to a published SC09 score.

    waves, labels = load_spoken_digits("train")          # (4320, 1, 8000) float32 in [-1, 1], (4320,) long
    ds = SpokenDigits("test")                            # items: (wave (1, 8000), digit)

The grid (:data:`DEFAULT_GRID`, 5,760 clips):

* accents: ``en-us``, ``en`` (British), ``en-gb-scotland``, ``en-029`` (Caribbean) - eSpeak NG language voices;
* variants (the speaker): m1..m8, f1, f4, linda, steph, klatt, klatt2, klatt3, croak. Variants with a ``breath``
  setting (f2, f3, f5, whisper, victor, ...) are left out: their noise is not reproducible from one process to
  the next in eSpeak NG 1.52 (measured: three fresh processes, three different waveforms);
* base pitch (eSpeak's 0-99 scale, 50 = the voice's default): 35, 50, 65;
* speaking rate: 140, 170, 200 words per minute (eSpeak's default is 175).

**Split by voice**: the test split holds every clip of the variants m4, m8, f4, klatt3 (4 of 16 speakers, 1,440
clips), the training split the other 12 (4,320 clips); no speaker is in both.

**Signal path**, per clip: eSpeak NG at its native 22,050 Hz (int16) -> polyphase resampling to ``rate``
(``scipy.signal.resample_poly``, default 8,000 Hz: 160/441) -> leading and trailing samples below 1 % of the clip's
peak are trimmed -> peak-normalised to 0.9 -> centred in one second (zero padding on both sides, the odd sample
after; a clip longer than one second keeps its central second, and the build reports how many were cut: none on
the default grid) -> rounded to int16. Loaded waveforms are ``int16 / 32768``.

**Determinism**: eSpeak NG keeps state between utterances inside one process (the same call twice gives different
waveforms), so every clip is synthesised in a fresh forked process that loads the library anew; the same grid then
gives the same bytes (tested on a tiny grid, and every ``verify_every``-th clip of a build is synthesised twice
and compared). The build is cached once in ``<cache>/spoken-digits/`` (see :func:`smlib.data.cache_dir`),
keyed by the grid, the rate and the eSpeak NG library's version and backend.

**Which eSpeak NG**: ``backend="wheel"`` (default) is the ``espeakng-loader==0.2.4`` wheel from PyPI, which ships
``libespeak-ng.so`` 1.52.0 and its voice data (pinned in requirements.txt; nothing else to install).
``backend="system"`` loads the Debian package's library (bookworm: ``espeak-ng`` 1.51) for comparison; the two
versions produce different bytes, so every number in the book comes from the wheel.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import multiprocessing as mp
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from smlib.atomic import atomic_path
from smlib.data.roots import cache_dir

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_RATE = 22050                # eSpeak NG's output rate (checked at initialisation)
WHEEL_PIN = "espeakng-loader==0.2.4"
INSTALL_HINT = (f"pip install {WHEEL_PIN} (pinned in requirements.txt; `make venv` installs it), or "
                "apt-get install espeak-ng and pass backend='system'")
PEAK = 0.9                         # every clip's peak after normalisation
TRIM_FRACTION = 0.01               # leading / trailing samples below this fraction of the peak are silence

# eSpeak NG's C API (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_RATE, _PITCH = 1, 3               # espeak_PARAMETER
_POS_CHARACTER = 1
_CHARS_UTF8 = 1


class EspeakUnavailableError(RuntimeError):
    """eSpeak NG cannot be loaded or does not work; the message (one line) says what to install."""


@dataclass(frozen=True)
class DigitGrid:
    """The utterances of the data set: every (digit, accent, variant, pitch, rate) combination.

    ``test_variants`` are the held-out speakers (the test split); the others form the training split."""

    accents: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-029")
    variants: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f4", "linda", "steph",
                                 "klatt", "klatt2", "klatt3", "croak")
    test_variants: tuple[str, ...] = ("m4", "m8", "f4", "klatt3")
    pitches: tuple[int, ...] = (35, 50, 65)
    rates: tuple[int, ...] = (140, 170, 200)
    words: tuple[str, ...] = field(default=DIGITS)

    def __post_init__(self):
        unknown = sorted(set(self.test_variants) - set(self.variants))
        if unknown:
            raise ValueError(f"test_variants {unknown} are not in variants; choose held-out speakers from the grid.")
        if not self.accents or not self.variants or not self.pitches or not self.rates or not self.words:
            raise ValueError("every axis of the grid needs at least one value.")

    def split_variants(self, split: str) -> tuple[str, ...]:
        """The variants (speakers) of ``split``: "train" or "test"."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
        held = set(self.test_variants)
        return tuple(v for v in self.variants if (v in held) == (split == "test"))

    def utterances(self, split: str) -> list[tuple[int, str, str, int, int]]:
        """(digit index, accent, variant, pitch, rate) of every clip of ``split``, in the data set's order:
        speaker-major (accent, variant), then pitch, rate, digit."""
        return [(d, a, v, p, r) for a in self.accents for v in self.split_variants(split) for p in self.pitches
                for r in self.rates for d in range(len(self.words))]

    def key(self) -> str:
        """A short hash of the grid, for cache names."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


DEFAULT_GRID = DigitGrid()
TINY_GRID = DigitGrid(accents=("en-us",), variants=("m1", "f1"), test_variants=("f1",), pitches=(50,), rates=(170,),
                      words=DIGITS[:3])


# ------------------------------------------------------------------------------------------------- the library
def espeak_paths(backend: str = "wheel") -> tuple[str, str]:
    """(shared library path, folder holding ``espeak-ng-data``) of the eSpeak NG to use.

    backend: "wheel" (the ``espeakng-loader`` package) or "system" (the Debian ``libespeak-ng1``). A missing one
    raises :class:`EspeakUnavailableError` with one line saying what to install."""
    if backend == "wheel":
        try:
            import espeakng_loader
        except ImportError:
            raise EspeakUnavailableError(f"eSpeak NG is not installed (no module espeakng_loader): "
                                         f"{INSTALL_HINT}.") from None
        lib = espeakng_loader.get_library_path()
        data = Path(lib).parent / "espeak-ng-data"
        return lib, str(data.parent)
    if backend == "system":
        lib = ctypes.util.find_library("espeak-ng")
        for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/share"):
            if lib and (Path(folder) / "espeak-ng-data").is_dir():
                return lib, folder
        raise EspeakUnavailableError(f"no system eSpeak NG (library {lib or 'not found'}): apt-get install "
                                     f"espeak-ng, or use backend='wheel' ({WHEEL_PIN}).")
    raise ValueError(f"backend must be 'wheel' or 'system', got {backend!r}.")


def _open(lib_path: str, data_parent: str):
    """Load and initialise the library in this process: (ctypes library, output rate)."""
    if not Path(data_parent, "espeak-ng-data").is_dir():
        raise EspeakUnavailableError(f"eSpeak NG voice data missing at {data_parent}/espeak-ng-data; reinstall: "
                                     f"{INSTALL_HINT}.")
    try:
        lib = ctypes.CDLL(lib_path)
    except OSError as e:
        raise EspeakUnavailableError(f"eSpeak NG library {lib_path} does not load ({e}); {INSTALL_HINT}.") from None
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), _INITIALIZE_DONT_EXIT)
    if rate != ESPEAK_RATE:
        raise EspeakUnavailableError(f"eSpeak NG at {lib_path} failed to initialise (returned {rate}, expected "
                                     f"{ESPEAK_RATE} Hz); {INSTALL_HINT}.")
    return lib, rate


def _speak(args) -> np.ndarray:
    """In a fresh process: one utterance (word, voice, pitch, rate, lib, data) -> int16 (n,) at 22,050 Hz."""
    word, voice, pitch, wpm, lib_path, data_parent = args
    lib, _ = _open(lib_path, data_parent)
    chunks: list[np.ndarray] = []

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    def collect(wav, n, events):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        return 0

    lib.espeak_SetSynthCallback(collect)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise EspeakUnavailableError(f"eSpeak NG has no voice {voice!r}; its voice data is incomplete: "
                                     f"{INSTALL_HINT}.")
    lib.espeak_SetParameter(_RATE, int(wpm), 0)
    lib.espeak_SetParameter(_PITCH, int(pitch), 0)
    text = word.encode() + b"\0"
    if lib.espeak_Synth(text, len(text), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
        raise EspeakUnavailableError(f"eSpeak NG failed to speak {word!r} with {voice}; {INSTALL_HINT}.")
    lib.espeak_Synchronize()
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def _version_in_child(args) -> str:
    lib, _ = _open(*args)
    path = ctypes.c_char_p()
    return lib.espeak_Info(ctypes.byref(path)).decode()


def _in_fresh_processes(fn, items: list, workers: int = 1) -> list:
    """``fn`` on each item, each in its own forked process (eSpeak NG's state never outlives one utterance)."""
    with mp.get_context("fork").Pool(max(1, int(workers)), maxtasksperchild=1) as pool:
        return pool.map(fn, items, chunksize=1)


def espeak_version(backend: str = "wheel") -> str:
    """The version eSpeak NG reports (``espeak_Info``), e.g. "1.52.0"; raises EspeakUnavailableError if broken."""
    return _in_fresh_processes(_version_in_child, [espeak_paths(backend)])[0]


def synthesize(items: list[tuple[str, str, int, int]], backend: str = "wheel", workers: int = 1) -> list[np.ndarray]:
    """Speak each (word, voice, pitch 0-99, rate in wpm), each in a fresh process: int16 (n_i,) at 22,050 Hz.

    voice: an eSpeak NG voice name with an optional variant, e.g. "en-us+m3"."""
    lib, data = espeak_paths(backend)
    return _in_fresh_processes(_speak, [(w, v, p, r, lib, data) for w, v, p, r in items], workers)


# ------------------------------------------------------------------------------------------------- one clip
def to_clip(wave: np.ndarray, rate: int, source_rate: int = ESPEAK_RATE) -> tuple[np.ndarray, bool]:
    """eSpeak's int16 (n,) at ``source_rate`` -> one second at ``rate``: int16 (rate,), and whether it was cut.

    Resampled (polyphase), trimmed to the samples between the first and last above 1 % of the peak,
    peak-normalised to 0.9, centred (zero padding; a longer clip keeps its central second)."""
    ratio = Fraction(int(rate), int(source_rate))
    x = wave.astype(np.float64) / 32768.0
    if ratio != 1:
        import scipy.signal
        x = scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator)
    peak = np.abs(x).max() if x.size else 0.0
    if peak == 0:
        raise ValueError("eSpeak NG returned silence; check the voice and the word.")
    loud = np.nonzero(np.abs(x) >= TRIM_FRACTION * peak)[0]
    x = x[loud[0]: loud[-1] + 1] * (PEAK / peak)
    out = np.zeros(int(rate), np.float64)
    cut = len(x) > rate
    if cut:
        start = (len(x) - rate) // 2
        out[:] = x[start: start + rate]
    else:
        start = (rate - len(x)) // 2
        out[start: start + len(x)] = x
    return np.clip(np.round(out * 32767), -32768, 32767).astype(np.int16), cut


# ------------------------------------------------------------------------------------------------- the data set
def build_spoken_digits(grid: DigitGrid = DEFAULT_GRID, rate: int = 8000, backend: str = "wheel", workers: int = 1,
                        verify_every: int | None = 8) -> dict:
    """Synthesise both splits (no cache): ``{"train": (waves int16 (N, rate), labels int64 (N,)), "test": ...,
    "meta": {...}}``.

    verify_every: synthesise every k-th clip a second time (in another fresh process) and require the same
    bytes; None skips the check."""
    if int(rate) != rate or not 1000 <= rate <= ESPEAK_RATE:
        raise ValueError(f"rate={rate!r} must be an integer number of Hz in [1000, {ESPEAK_RATE}].")
    version = espeak_version(backend)
    out, cut, n_checked = {}, 0, 0
    for split in ("train", "test"):
        utts = grid.utterances(split)
        items = [(grid.words[d], f"{a}+{v}", p, r) for d, a, v, p, r in utts]
        raw = synthesize(items, backend, workers)
        if verify_every:
            again = synthesize(items[::verify_every], backend, workers)
            n_checked += len(again)
            for k, (a, b) in enumerate(zip(raw[::verify_every], again)):
                if not np.array_equal(a, b):
                    raise RuntimeError(f"eSpeak NG {version} spoke {items[k * verify_every]} differently twice; "
                                       "that voice is not reproducible: drop it from the grid.")
        clips = [to_clip(w, int(rate)) for w in raw]
        cut += sum(c for _, c in clips)
        out[split] = (np.stack([c for c, _ in clips]), np.array([u[0] for u in utts], np.int64))
    out["meta"] = {"grid": asdict(grid), "grid_key": grid.key(), "rate": int(rate), "espeak_version": version,
                   "backend": backend, "wheel": WHEEL_PIN if backend == "wheel" else None, "clips_cut": int(cut),
                   "clips_verified": int(n_checked), "peak": PEAK, "trim_fraction": TRIM_FRACTION}
    return out


def cache_path(grid: DigitGrid = DEFAULT_GRID, rate: int = 8000, backend: str = "wheel") -> Path:
    """``<cache>/spoken-digits/<grid key>-<rate>hz-<backend>.pt`` (the library version is checked on load)."""
    return cache_dir() / "spoken-digits" / f"{grid.key()}-{int(rate)}hz-{backend}.pt"


def spoken_digits_arrays(grid: DigitGrid = DEFAULT_GRID, rate: int = 8000, backend: str = "wheel",
                         workers: int = 1) -> dict:
    """Both splits, built once and cached: ``{"train": {"waves": int16 (N, rate), "labels": (N,)}, "test": ...,
    "meta": json str}`` as saved (loads with ``weights_only=True``)."""
    path = cache_path(grid, rate, backend)
    if path.is_file():
        return torch.load(path, weights_only=True)
    built = build_spoken_digits(grid, rate, backend, workers)
    data = {s: {"waves": torch.from_numpy(built[s][0]), "labels": torch.from_numpy(built[s][1])}
            for s in ("train", "test")}
    data["meta"] = json.dumps(built["meta"], sort_keys=True)
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return data


def load_spoken_digits(split: str = "train", rate: int = 8000, grid: DigitGrid = DEFAULT_GRID,
                       backend: str = "wheel", limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as tensors: waves (N, 1, rate) float32 in [-1, 1) (one second, int16 / 32768) and digits (N,)
    long. ``limit``: keep this many clips, evenly spaced over the split's order (every speaker and digit stays
    represented when limit is a multiple of 10 that divides N)."""
    grid.split_variants(split)  # validates split
    data = spoken_digits_arrays(grid, rate, backend)[split]
    waves, labels = data["waves"], data["labels"]
    if limit is not None:
        if not 1 <= limit <= len(labels):
            raise ValueError(f"limit={limit} must be in 1..{len(labels)} for the {split} split.")
        idx = torch.from_numpy(np.linspace(0, len(labels) - 1, int(limit)).round().astype(np.int64))
        waves, labels = waves[idx], labels[idx]
    return (waves.float() / 32768.0).unsqueeze(1), labels.long()


def spoken_digits_meta(grid: DigitGrid = DEFAULT_GRID, rate: int = 8000, backend: str = "wheel") -> dict:
    """How the cached build was made: grid, rate, eSpeak NG version and backend, clips cut / verified."""
    return json.loads(spoken_digits_arrays(grid, rate, backend)["meta"])


class SpokenDigits(Dataset):
    """Map-style dataset of one split: items ``(wave (1, rate) float32, digit int)``."""

    def __init__(self, split: str = "train", rate: int = 8000, grid: DigitGrid = DEFAULT_GRID,
                 backend: str = "wheel", limit: int | None = None):
        self.waves, self.labels = load_spoken_digits(split, rate, grid, backend, limit)
        self.split, self.rate = split, int(rate)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.waves[i], int(self.labels[i])


def registry_entry(split="train", resolution=32, root=None, download=False, limit=None, hflip=False,
                   rate: int = 8000, backend: str = "wheel") -> SpokenDigits:
    """``load_dataset("spoken-digits", split, rate=8000)``: ``resolution`` (an image notion) is ignored; ``root``
    and ``download`` too (the data are synthesised, never read or fetched); ``hflip`` is refused."""
    if hflip:
        raise ValueError("hflip would reverse speech in time; spoken-digits takes no hflip.")
    return SpokenDigits(split, rate, DEFAULT_GRID, backend, limit)


__all__ = ["DIGITS", "ESPEAK_RATE", "WHEEL_PIN", "EspeakUnavailableError", "DigitGrid", "DEFAULT_GRID", "TINY_GRID",
           "espeak_paths", "espeak_version", "synthesize", "to_clip", "build_spoken_digits", "cache_path",
           "spoken_digits_arrays", "load_spoken_digits", "spoken_digits_meta", "SpokenDigits", "registry_entry"]
