"""Command-line entry: ``python -m smlib <recipe> [options]``, the same recipes the notebooks call in-process.

    python -m smlib autoencoder --preset small --variant esm
    torchrun --nproc_per_node 8 -m smlib diffusion --preset paper --variant dsm \
        --autoencoder runs/autoencoders/paper/dsm-<key>

Each recipe module exposes ``cli(argv: list[str]) -> None``; ``python -m smlib <recipe> --help`` lists its options.
"""
from __future__ import annotations

import importlib
import sys

RECIPES = {
    "autoencoder": ("smlib.experiments.autoencoders", "train / evaluate one autoencoder with a regularizer"),
    "diffusion": ("smlib.experiments.diffusability", "train / sample / score a latent diffusion model"),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        for name, (_, desc) in RECIPES.items():
            print(f"  {name:12s} {desc}")
        return
    name, rest = argv[0], argv[1:]
    if name not in RECIPES:
        sys.exit(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)} (python -m smlib --help)")
    importlib.import_module(RECIPES[name][0]).cli(rest)


if __name__ == "__main__":
    main()
