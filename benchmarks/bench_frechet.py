"""Frechet distance: smlib's exact and fast paths against pytorch-fid's ``calculate_frechet_distance``.

On the same Gaussian statistics (mu, Sigma) of 2048-d random features:

* ``pytorch-fid``: pytorch-fid 0.3.0 ``fid_score.calculate_frechet_distance`` (``scipy.linalg.sqrtm`` of
  Sigma1 Sigma2; eps * I added to both when the root is not finite);
* ``smlib-exact``: :func:`smlib.metrics.frechet_distance`, the same algorithm (an independent writing of it);
* ``smlib-fast``: :func:`smlib.metrics.frechet_distance_fast`, tr sqrt(Sigma1 Sigma2) from a symmetric
  eigenproblem (N x N when N <= D, else via Sigma1^(1/2) by eigh). It takes the sample features, so its time
  includes their statistics, which the other two get precomputed.

Agreement is the absolute and relative difference of each distance from pytorch-fid's, and from an untimed
independent route: sum sqrt(eig(Sigma1 Sigma2)) by ``numpy.linalg.eigvals``. With N < 2048 samples Sigma1 is
singular (rank N - 1), as in every CPU-sized FID of the book; ``pytorch_fid_regularised`` records whether
pytorch-fid fell back to its eps there.

Features: rectified correlated Gaussians (``relu(z A + b)``), samples and reference with different b, so the
distance is O(100) like a CPU-sized FID. numpy/scipy use the BLAS threads of the environment (recorded).

    python benchmarks/bench_frechet.py [--quick]   # -> results/benchmarks/frechet.json (~10 min on 2 cores)
"""
from __future__ import annotations

import contextlib
import io
import os
import sys

import numpy as np

from common import bench_args, interleaved_times, ratio_table, results_path, write_result
from smlib.metrics import feature_statistics, frechet_distance, frechet_distance_fast

# (label, samples N, reference N): the sample covariance is singular when N <= D
CASES = [("N=250 vs 1000 reference (both singular; the book's gFID-250)", 250, 1000),
         ("N=1000 vs 5000 reference (samples singular)", 1000, 5000),
         ("N=3000 vs 5000 reference (full rank)", 3000, 5000),
         ("N=5000 vs 5000 reference (full rank)", 5000, 5000)]
QUICK_CASES = [("N=100 vs 400 reference, D=256 (samples singular)", 100, 400),
               ("N=400 vs 400 reference, D=256 (full rank)", 400, 400)]


def features(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    """(n, d) rectified correlated Gaussians: relu(z A + shift), z ~ N(0, I), one fixed mixing matrix A."""
    a = np.eye(d) + np.random.default_rng(12345).standard_normal((d, d)) / np.sqrt(d)
    z = np.random.default_rng(seed).standard_normal((n, d))
    return np.maximum(z @ a + shift, 0.0)


def eigvals_route(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr S1 + tr S2 - 2 sum sqrt(eig(S1 S2)): the eigenvalues of S1 S2 are those of the PSD
    S1^(1/2) S2 S1^(1/2), real and >= 0 up to round-off."""
    lam = np.clip(np.linalg.eigvals(sigma1 @ sigma2).real, 0, None)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(lam).sum())


def compare(n: int, n_ref: int, d: int, rounds: int) -> dict:
    from pytorch_fid.fid_score import calculate_frechet_distance

    x, ref = features(n, d, 0.1, seed=1), features(n_ref, d, 0.0, seed=2)
    mu1, sigma1 = feature_statistics(x)
    mu2, sigma2 = feature_statistics(ref)
    said = io.StringIO()

    def peer():
        with contextlib.redirect_stdout(said):   # it prints a line when it regularises
            return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))

    fns = {"pytorch-fid": peer, "smlib-exact": lambda: frechet_distance(mu1, sigma1, mu2, sigma2),
           "smlib-fast": lambda: frechet_distance_fast(x, mu2, sigma2)}
    values = {name: float(fn()) for name, fn in fns.items()}
    values["eigvals-route"] = eigvals_route(mu1, sigma1, mu2, sigma2)
    regularised = "singular product" in said.getvalue()
    times = interleaved_times(fns, rounds=rounds, repeats=1, warmup=0)
    table = ratio_table(times, "pytorch-fid")
    agreement = {f"{name} vs {ref_name}": {"abs": abs(values[name] - values[ref_name]),
                                          "rel": abs(values[name] - values[ref_name]) / abs(values[ref_name])}
                 for ref_name in ("pytorch-fid", "eigvals-route") for name in values if name != ref_name}
    return {"n_samples": n, "n_reference": n_ref, "dim": d, "sample_covariance_singular": n <= d,
            "pytorch_fid_regularised": regularised, "distances": values, "agreement": agreement,
            "timing": {name: {**row, "speedup_vs_pytorch_fid": 1 / row["ratio_to_pytorch-fid"]}
                       for name, row in table.items()}}


def main() -> None:
    args = bench_args(__doc__, rounds=3)
    if args.device != "cpu":
        sys.exit("the Frechet distance runs in numpy/scipy on the CPU; run without --device")
    d, cases = (256, QUICK_CASES) if args.quick else (2048, CASES)
    results = {}
    for label, n, n_ref in cases:
        r = results[label] = compare(n, n_ref, d, args.rounds)
        t, a = r["timing"], r["agreement"]
        print(f"{label}: FID {r['distances']['pytorch-fid']:.4f}"
              + (" (pytorch-fid regularised with eps)" if r["pytorch_fid_regularised"] else ""))
        for name in ("smlib-exact", "smlib-fast"):
            print(f"  {name:12s} x{t[name]['speedup_vs_pytorch_fid']:7.2f} vs pytorch-fid "
                  f"({t[name]['median_s']:.2f} s vs {t['pytorch-fid']['median_s']:.2f} s); "
                  f"rel. diff {a[f'{name} vs pytorch-fid']['rel']:.1e} vs pytorch-fid, "
                  f"{a[f'{name} vs eigvals-route']['rel']:.1e} vs the eigvals route")
    blas = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    path = write_result("frechet", {"benchmark": "Frechet distance: smlib exact and fast vs pytorch-fid",
                                    "quick": bool(args.quick), "rounds": args.rounds, "blas_threads_env": blas,
                                    "numpy": np.__version__, "cases": results}, results_path("frechet", args))
    print(f"wrote {path}")
    worst = max(r["agreement"]["smlib-fast vs eigvals-route"]["rel"] for r in results.values())
    if worst > 1e-6:
        sys.exit(f"smlib's fast Frechet distance disagrees with the eigenvalue route by {worst:.1e} (relative)")


if __name__ == "__main__":
    main()
