"""Speed and spot checks of the device engine (:mod:`permtest.gpu`) on a CUDA GPU.

    python benchmarks/gpu_bench.py --out gpu_bench.json     # CUDA machine, under 4 minutes
    python benchmarks/gpu_bench.py --device cpu --small     # smoke test anywhere, seconds

A random (seeded, built on the device) 30522 x 768 float32 matrix, the size of
BERT's token embeddings, and a 10-word ``coherence`` claim. Sections:

- ``shuffle`` and ``tokens`` (pool = all rows): permutations per second of
  ``permtest.gpu.null_distribution`` (one warm-up run first; the timed run is
  sized to take a few seconds).
- ``batch_sizes``, ``variants``: shuffle speed at other batch sizes and module
  settings (tuning); ``profile``: one batch's device time by kernel.
- ``stages``: one batch split into its steps (words, keys + repeats, repairs,
  gather, statistic).
- ``literal_randperm``: the literal flatten-shuffle with ``torch.randperm``.
- ``exactness``: on a tiny skewed matrix, the device nulls against numpy's literal
  definitions (two-sample KS and Cramer-von Mises; p > 1e-3 passes).
- ``determinism``: same seed twice, batch sizes 1000 and 37, deterministic mode.
- ``cpu_engine``: the same claim on the CPU engine (KS against the device null).

Each section catches its own errors and the run goes on; the results are one JSON
object (``--out`` file, or stdout). Needs only the repository, numpy, scipy, torch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# torch's deterministic mode (the determinism section) needs this before cuBLAS starts.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402

FULL = dict(rows=30522, dims=768, words=10, warmup=20_000, probe=100_000, target_s=5.0, max_perms=8_000_000,
            literal=10, exact_draws=20_000, determinism=3000, cpu_engine=20_000, budget_s=200.0)
SMALL = dict(rows=3000, dims=32, words=10, warmup=1000, probe=2000, target_s=0.5, max_perms=20_000,
             literal=3, exact_draws=3000, determinism=1100, cpu_engine=0, budget_s=20.0)


def log(*parts) -> None:
    print(*parts, flush=True)


class Bench:
    def __init__(self, args):
        import torch

        from permtest import gpu, measures
        from permtest._pools import Pool
        from permtest._wordgroups import WordGroups

        self.torch, self.gpu, self.args = torch, gpu, args
        self.size = SMALL if args.small else FULL
        self.device = torch.device(args.device)
        self.started = time.perf_counter()
        generator = torch.Generator(device=self.device).manual_seed(args.seed)
        rows, dims, n = self.size["rows"], self.size["dims"], self.size["words"]
        self.matrix = torch.randn((rows, dims), generator=generator, device=self.device, dtype=torch.float32)
        picked = np.random.default_rng(args.seed).choice(rows, size=n, replace=False)
        self.rows = picked
        self.groups = WordGroups(("words",), tuple(f"w{r}" for r in picked), np.zeros(n, dtype=np.int64),
                                 tuple((int(r),) for r in picked), picked.astype(np.int64))
        self.coherence = measures.make("coherence", self.groups, None)
        self.pool = Pool(np.arange(rows, dtype=np.int64), np.array([0]), np.array([rows]), np.array([0]), None,
                         "all rows")

    # -- helpers ------------------------------------------------------------------------

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def timed(self, fn):
        self.sync()
        started = time.perf_counter()
        out = fn()
        self.sync()
        return out, time.perf_counter() - started

    def null(self, null: str, permutations: int, seed: int = 0, **options):
        pool = self.pool if null == "tokens" else None
        return self.gpu.null_distribution(self.matrix, self.groups, "coherence", null, permutations, seed,
                                          device=str(self.device), pool=pool, **options)

    def left(self) -> float:
        return self.size["budget_s"] - (time.perf_counter() - self.started)

    # -- sections -------------------------------------------------------------------------

    def environment(self) -> dict:
        torch = self.torch
        info = {"torch": torch.__version__, "cuda_runtime": torch.version.cuda, "python": platform.python_version(),
                "numpy": np.__version__, "device": str(self.device), "cpu_count": os.cpu_count(),
                "matrix": list(self.matrix.shape), "claim_words": len(self.groups.words)}
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            info.update(gpu_name=torch.cuda.get_device_name(self.device), gpu_memory_gib=props.total_memory / 2**30,
                        multiprocessors=props.multi_processor_count)
        return info

    def rate(self, null: str, **options) -> dict:
        """Warm up, probe, then time a run sized to ``target_s`` seconds."""
        size = self.size
        self.null(null, size["warmup"], seed=1, **options)
        _, probe_s = self.timed(lambda: self.null(null, size["probe"], seed=2, **options))
        probe_rate = size["probe"] / probe_s
        wanted = probe_rate * min(size["target_s"], max(0.2, self.left() / 8))
        permutations = int(min(size["max_perms"], max(size["probe"], round(wanted, -3))))
        values, seconds = self.timed(lambda: self.null(null, permutations, seed=3, **options))
        return {"permutations": permutations, "seconds": seconds, "perms_per_s": permutations / seconds,
                "probe_perms_per_s": probe_rate, "null_mean": float(values.mean()), "null_sd": float(values.std()),
                "finite": bool(np.isfinite(values).all())}

    def shuffle(self) -> dict:
        out = self.rate("shuffle")
        claim = self.gpu._Claim(self.matrix, self.groups, self.coherence, "shuffle", None, self.device)
        out["batch_rows"] = claim.batch_rows()
        out["spares_per_perm"] = claim.sampler.spares
        out["word_bits"] = claim.sampler.bits
        return out

    def tokens(self) -> dict:
        out = self.rate("tokens")
        claim = self.gpu._Claim(self.matrix, self.groups, self.coherence, "tokens", self.pool, self.device)
        out["batch_rows"] = claim.batch_rows()
        return out

    def batch_sizes(self) -> dict:
        out = {}
        for batch in (8000, 16000, 32000, 64000) if not self.args.small else (500, 1000):
            if self.left() < 30 and not self.args.small:
                out[str(batch)] = "skipped: time budget"
                continue
            permutations = max(4 * batch, self.size["probe"])
            self.null("shuffle", batch, seed=1, batch_size=batch)
            _, seconds = self.timed(lambda m=permutations, b=batch: self.null("shuffle", m, seed=2, batch_size=b))
            out[str(batch)] = {"permutations": permutations, "perms_per_s": permutations / seconds}
        return out

    def variants(self) -> dict:
        """Shuffle speed with module settings changed, one at a time."""
        settings = {"62-bit words": {"_SHORT_WORDS": 0}, "batch 32 blocks": {"_MAX_BATCH": 32_000},
                    "table load 2": {"_TABLE_LOAD": 2}, "no second table": {"_HASH_ROUNDS": 0},
                    "three more tables": {"_HASH_ROUNDS": 3}}
        out = {}
        for name, changes in settings.items():
            if self.left() < 30 and not self.args.small:
                out[name] = "skipped: time budget"
                continue
            original = {k: getattr(self.gpu, k) for k in changes}
            try:
                for k, v in changes.items():
                    setattr(self.gpu, k, v)
                permutations = 4 * self.size["probe"] // (10 if self.args.small else 1)
                self.null("shuffle", self.size["warmup"], seed=1)
                _, seconds = self.timed(lambda m=permutations: self.null("shuffle", m, seed=2))
                out[name] = {"permutations": permutations, "perms_per_s": permutations / seconds}
            except Exception as error:
                out[name] = {"error": f"{type(error).__name__}: {error}"}
            finally:
                for k, v in original.items():
                    setattr(self.gpu, k, v)
        return out

    def profile(self) -> dict:
        """One batch of the shuffle null under torch.profiler: device time by kernel."""
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
        claim = self.gpu._Claim(self.matrix, self.groups, self.coherence, "shuffle", None, self.device)
        rows = claim.batch_rows()
        self.null("shuffle", rows, seed=1)
        with profile(activities=activities) as prof:
            _, seconds = self.timed(lambda: self.null("shuffle", rows, seed=2))
        events = prof.key_averages()
        key = next((k for k in ("self_device_time_total", "self_cuda_time_total") if hasattr(events[0], k)),
                   "self_cpu_time_total")
        device_us = sum(getattr(e, key) for e in events)
        if not device_us:  # no device events (the cpu device): host time instead
            key = "self_cpu_time_total"
            device_us = sum(getattr(e, key) for e in events)
        top = sorted(events, key=lambda e: -getattr(e, key))[:25]
        return {"rows": rows, "wall_ms": seconds * 1e3, "device_busy_ms": device_us / 1e3,
                "top_ms": {e.key[:80]: round(getattr(e, key) / 1e3, 3) for e in top},
                "calls": {e.key[:80]: e.count for e in top}}

    def first_table(self) -> dict:
        """The first hash table's steps (``repeated_slots``), timed one by one on a
        batch of shuffle keys, with alternatives for the scatter and the gather."""
        gpu, torch = self.gpu, self.torch
        claim = gpu._Claim(self.matrix, self.groups, self.coherence, "shuffle", None, self.device)
        rows = claim.batch_rows()
        words, _ = claim.draw_words(range(-(-rows // gpu.SEED_BLOCK)), rows, 0, ())
        keys, _ = claim.sampler.keys(words[:rows])
        buckets, slots = 1 << claim.sampler.table_bits, keys.shape[1]
        slot = torch.arange(slots, dtype=torch.int32, device=self.device)
        times = {}

        def step(name, fn):
            fn()  # warm-up
            out, seconds = self.timed(fn)
            times[name] = seconds * 1e9 / rows
            return out

        bucket = step("bucket_int64", lambda: torch.bitwise_and(
            keys, buckets - 1, out=torch.empty(keys.shape, dtype=torch.int64, device=self.device)))
        table = step("fill", lambda: torch.full((rows, buckets), -1, dtype=torch.int32, device=self.device))
        step("scatter_expanded_src", lambda: table.scatter_reduce_(1, bucket, slot.expand(rows, slots), "amax"))
        src = slot.repeat(rows, 1)
        step("scatter_contiguous_src", lambda: table.scatter_reduce_(1, bucket, src, "amax"))
        last = step("gather", lambda: table.gather(1, bucket))
        flat = bucket + (torch.arange(rows, device=self.device) * buckets)[:, None]
        step("index_select_flat", lambda: table.view(-1).index_select(0, flat.view(-1)))
        step("not_last_nonzero", lambda: (last != slot).view(-1).nonzero())
        return {"rows": rows, "ns_per_perm": times}

    def stages(self) -> dict:
        from permtest import statistics
        gpu, torch = self.gpu, self.torch
        claim = gpu._Claim(self.matrix, self.groups, self.coherence, "shuffle", None, self.device)
        count = claim.batch_rows()
        blocks = range(-(-count // gpu.SEED_BLOCK))
        claim.draw_words(blocks, count, 0, ())  # warm-up
        (words, spares), t_words = self.timed(lambda: claim.draw_words(blocks, count, 0, ()))
        words, spares = words[:count], spares[:count]
        main, extra = words.clone(), spares.clone()
        sampler = claim.sampler
        (keys, accepted), t_keys = self.timed(lambda: sampler.keys(words))
        (repeats, _), t_repeats = self.timed(lambda: gpu.repeated_slots(keys, sampler.table_bits, sampler.span))
        keys, t_distinct = self.timed(lambda: gpu.draw_distinct(sampler, main, extra, lambda r: None))
        batch, t_gather = self.timed(lambda: claim.values.view(-1).index_select(0, keys.view(-1))
                                     .view(count, -1, claim.shape[1]))
        _, t_stat = self.timed(lambda: claim._measure(batch, 0))
        per = 1e9 / count
        chunks = {}
        for rows in (1000, 4000, 8000):
            part = batch[:rows] if rows <= count else batch[:1].expand(rows, -1, -1).contiguous()
            labels = claim.labels
            statistics.coherence(statistics.cosines(part), labels, 1)
            _, seconds = self.timed(lambda x=part, y=labels: [statistics.coherence(statistics.cosines(x), y, 1)
                                                              for _ in range(5)])
            chunks[str(rows)] = seconds / 5 / rows * 1e9
        return {"batch_rows": count, "statistic_chunk_rows": claim.chunk, "ns_per_perm": {
            "words": t_words * per, "keys": t_keys * per, "repeats": t_repeats * per,
            "rejections_and_repairs": (t_distinct - t_keys - t_repeats) * per, "gather_float64": t_gather * per,
            "statistic": t_stat * per}, "statistic_ns_per_perm_by_chunk_rows": chunks,
            "repeats_per_perm": repeats.numel() / count, "rejections_per_perm": int((~accepted).sum()) / count,
            "injective_rows": bool((torch.sort(keys, dim=1).values.diff(dim=1) != 0).all().item())}

    def literal_randperm(self) -> dict:
        torch = self.torch
        flat = self.matrix.reshape(-1)
        generator = torch.Generator(device=self.device).manual_seed(0)
        rows = torch.as_tensor(self.rows, device=self.device)
        labels = torch.zeros(len(self.rows), dtype=torch.int64, device=self.device)

        def once():
            from permtest import statistics
            shuffled = flat[torch.randperm(flat.numel(), generator=generator, device=self.device)]
            vectors = shuffled.view(self.matrix.shape)[rows].to(torch.float64)[None]
            return float(statistics.coherence(statistics.cosines(vectors), labels, 1)[0])

        once()
        reps = self.size["literal"]
        _, seconds = self.timed(lambda: [once() for _ in range(reps)])
        return {"permutations": reps, "seconds": seconds, "perms_per_s": reps / seconds}

    def exactness(self) -> dict:
        from scipy import stats

        from permtest import statistics
        from permtest._pools import Pool
        from permtest._wordgroups import WordGroups

        rng = np.random.default_rng(5)
        matrix = (rng.exponential(size=(12, 3)) * rng.choice([-1, 1], size=(12, 3))).astype(np.float32)
        groups = WordGroups(("g",), ("a", "b", "c"), np.zeros(3, dtype=np.int64), ((0,), (1,), (2,)), np.arange(3))
        pool = Pool(np.arange(12), np.array([0]), np.array([12]), np.array([0]), None, "all")
        draws = self.size["exact_draws"]

        def coherence(vectors):
            x = np.asarray(vectors, dtype=np.float64)[None]
            return statistics.coherence(statistics.cosines(x), np.zeros(3, dtype=int), 1)[0]

        out = {"draws": draws}
        for null in ("shuffle", "columns", "tokens"):
            device = self.gpu.null_distribution(matrix, groups, "coherence", null, draws, 3, device=str(self.device),
                                                pool=pool if null == "tokens" else None)
            literal, local = np.empty(draws), np.random.default_rng(8)
            for i in range(draws):
                if null == "shuffle":
                    flat = matrix.reshape(-1).copy()
                    local.shuffle(flat)
                    picked = flat.reshape(matrix.shape)[:3]
                elif null == "columns":
                    picked = local.permuted(matrix, axis=0)[:3]
                else:
                    picked = matrix[local.choice(12, size=3, replace=False)]
                literal[i] = coherence(picked)
            ks = stats.ks_2samp(device, literal).pvalue
            cvm = stats.cramervonmises_2samp(device, literal).pvalue
            out[null] = {"ks_p": float(ks), "cvm_p": float(cvm), "passed": bool(ks > 1e-3 and cvm > 1e-3)}
        return out

    def determinism(self) -> dict:
        torch = self.torch
        m = self.size["determinism"]
        out = {}
        for null in ("shuffle", "tokens"):
            first = self.null(null, m, seed=5)
            again = self.null(null, m, seed=5)
            blocks = self.null(null, m, seed=5, batch_size=1000)
            small = self.null(null, m, seed=5, batch_size=37)
            before = torch.are_deterministic_algorithms_enabled()
            torch.use_deterministic_algorithms(True)
            try:
                strict = self.null(null, m, seed=5)
            finally:
                torch.use_deterministic_algorithms(before)
            other = self.null(null, m, seed=6)
            out[null] = {"same_seed_same_bits": bool(np.array_equal(first, again)),
                         "batch_1000_same_bits": bool(np.array_equal(first, blocks)),
                         "batch_37_same_bits": bool(np.array_equal(first, small)),
                         "deterministic_mode_same_bits": bool(np.array_equal(first, strict)),
                         "other_seed_differs": bool(not np.array_equal(first, other))}
        return out

    def cpu_engine(self) -> dict:
        from scipy import stats

        import permtest

        m = self.size["cpu_engine"]
        if not m or self.left() < 60:
            return {"skipped": "small run or time budget"}
        matrix = self.matrix.cpu().numpy()
        vocab = [f"w{i}" for i in range(matrix.shape[0])]
        emb = permtest.Embeddings.from_array(matrix, vocab, name="random")
        words = {"words": list(self.groups.words)}
        cpu, seconds = self.timed(lambda: permtest.permutation_test(
            emb, words, "coherence", "shuffle", permutations=m, seed=0, n_jobs=min(16, os.cpu_count() or 1)))
        device = self.null("shuffle", m, seed=7)
        return {"permutations": m, "cpu_seconds_with_compile": seconds,
                "ks_p": float(stats.ks_2samp(cpu.null_distribution, device).pvalue),
                "cpu_mean": float(cpu.null_distribution.mean()), "device_mean": float(device.mean()),
                "cpu_sd": float(cpu.null_distribution.std()), "device_sd": float(device.std())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON file for the results (default: stdout)")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip")
    args = parser.parse_args(argv)
    result = {"argv": sys.argv[1:], "sections": {}}
    try:
        bench = Bench(args)
    except Exception as error:  # e.g. no CUDA: report it and stop
        result["sections"]["setup"] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        bench = None
    if bench is not None:
        skip = set(filter(None, args.skip.split(",")))
        for name in ("environment", "exactness", "shuffle", "tokens", "literal_randperm", "determinism", "stages",
                     "batch_sizes", "variants", "first_table", "profile", "cpu_engine"):
            if name in skip:
                continue
            log(f"== {name}")
            started = time.perf_counter()
            try:
                section = getattr(bench, name)()
            except Exception as error:
                section = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            section["section_seconds"] = round(time.perf_counter() - started, 3)
            result["sections"][name] = section
            log(json.dumps(section, default=str))
        result["total_seconds"] = round(time.perf_counter() - bench.started, 3)
    text = json.dumps(result, indent=2, default=lambda x: x if not isinstance(x, float) or math.isfinite(x) else None)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text, flush=True)
    summary = {k: v.get("perms_per_s") for k, v in result["sections"].items()
               if isinstance(v, dict) and "perms_per_s" in v}
    log("perms/s:", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
