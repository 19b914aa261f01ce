"""Cascading randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps"):
a claim's statistic as a model is re-initialised from the top layer down.

Layers are numbered as ``hidden_states`` numbers them: layer ``i`` (1..n) is the
block whose output is ``hidden_states[i]``, layer 0 is the embedding module (what
produces ``hidden_states[0]``). A tensor outside the blocks belongs to layer 0 when
its module runs before the first block (token, position and type embeddings and
their norm) and to layer n otherwise (a final norm such as GPT-2's ``ln_f``, which
shapes ``hidden_states[n]``; a pooler). The cascade of an n-layer model has n + 2
steps:

* step 0: the trained model;
* step k (1..n): layers n-k+1..n re-initialised, the layers below them trained;
* step n + 1: every layer re-initialised, the embeddings too.

A step's model is the random-weights null's literal definition
(:meth:`permtest.sources._random_weights.RandomWeights.naive_vectors`):
``AutoModel.from_config`` under torch's CPU generator, so every weight is drawn by
the model's own initialiser; then the tensors of the layers the step keeps are
copied from the trained model. The last step is therefore exactly one model of the
``random-weights`` null. The claim's words' vectors are recomputed at the config's
layer L as the source computes the trained ones (:class:`Encoder`: mean over the
word's pieces in each template, then over the templates; at ``layer: input``, the
rows of the claim's pieces of the token-embedding matrix, pooled as ``subwords``
says), and the claim's statistic with them.

``hidden_states[L]`` is computed before the blocks above L run, so re-initialising
only those cannot change it: step k reaches layer L only from ``k = n - L + 1`` on
(at ``layer: input``, only the last step). The steps before take the trained value
(``reaches_layer`` is false in the CSV, hollow markers in the plot) rather than
recomputing it; ``tests/test_cascade.py`` recomputes one and checks that its
vectors are the trained ones, bit for bit.

Seeding. Step k of claim c is ``SeedSequence(seed, spawn_key=(zlib.crc32(c), 5,
k))`` (5: :data:`STREAM_ID`, after the nulls' stream ids 0-4); torch's CPU
generator is seeded with its ``generate_state(1, numpy.uint64)[0]`` inside
``torch.random.fork_rng`` (the caller's torch RNG state is left as it was). So the
same seed gives the same bits, whatever the claims' order, and every step draws
its re-initialised layers afresh from its own stream (the steps are not nested
draws of one random model). Weights are drawn on the CPU whatever the device.

The band is the ``random-weights`` null of the trained source (central 95% of the
statistic over fully re-initialised models), on the stream a ``permtest run``
gives that claim and null, so it is that run's null distribution.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import measures, runner
from ._plots import DPI, FIGSIZE, _band
from .config import Config
from .engine import PermutationResult, permutation_test, validate_claim
from .errors import PermtestError
from .nulls import CASCADE_STREAM, Draw
from .report import _crc, _safe, _write_atomically
from .sources import is_sweep as _is_sweep
from .sources import load_source, normalize_spec, spec_label

__all__ = ["COLUMNS", "STREAM_ID", "Cascade", "ClaimCascade", "file_names", "run", "steps", "write"]

STREAM_ID = CASCADE_STREAM  # reserved in the null registry: no null can take it
NULL = "random-weights"
COLUMNS = ("config", "claim", "statistic", "step", "randomised_layers", "value", "null_low", "null_high", "trained",
           "layer", "reaches_layer", "permutations", "seed")


def steps(depth: int) -> tuple[tuple[int, ...], ...]:
    """The layers each step re-initialises, top first: ``()``, ``(n,)``,
    ``(n-1, n)``, ..., ``(1, ..., n)``, ``(0, ..., n)``."""
    return tuple(tuple(range(depth + 1 - k, depth + 1)) for k in range(depth + 2))


def reaches(randomised: tuple[int, ...], layer) -> bool:
    """Whether re-initialising these layers can change the vectors at ``layer``."""
    return bool(randomised) and min(randomised) <= (0 if layer == "input" else layer)


def step_seed(seed: int, claim: str, step: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(zlib.crc32(claim.encode("utf-8")), STREAM_ID, step))


def layers_text(randomised: tuple[int, ...]) -> str:
    """``none``, ``12`` or ``0-12``: the layers a step re-initialised."""
    if not randomised:
        return "none"
    low, high = min(randomised), max(randomised)
    return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class ClaimCascade:
    """One claim's cascade.

    Attributes
    ----------
    claim, statistic : str
    values : numpy.ndarray
        The statistic at each step (read-only); steps that do not reach the layer
        hold the trained value.
    reaches_layer : numpy.ndarray
        Per step, whether its re-initialised layers can change the vectors.
    trained : float
        The statistic in the trained model (``observed`` of the null's test).
    null : PermutationResult
        The ``random-weights`` null of the trained source.
    null_low, null_high : float
        Its central 95% (2.5th and 97.5th percentiles).
    """

    claim: str
    statistic: str
    values: np.ndarray
    reaches_layer: np.ndarray
    trained: float
    null: PermutationResult
    null_low: float
    null_high: float


@dataclass(frozen=True)
class Cascade:
    """The cascade of every claim of a config: ``steps[k]`` are the layers step k
    re-initialised; ``depth`` the model's layers; ``layer`` the config's."""

    config: Config
    layer: object
    depth: int
    steps: tuple[tuple[int, ...], ...]
    claims: tuple[ClaimCascade, ...]

    def rows(self) -> list[dict]:
        out = []
        for one in self.claims:
            for step, randomised in enumerate(self.steps):
                out.append({"config": self.config.name, "claim": one.claim, "statistic": one.statistic, "step": step,
                            "randomised_layers": layers_text(randomised), "value": float(one.values[step]),
                            "null_low": one.null_low, "null_high": one.null_high, "trained": one.trained,
                            "layer": self.layer, "reaches_layer": bool(one.reaches_layer[step]),
                            "permutations": one.null.permutations, "seed": self.config.seed})
        return out


# ---------------------------------------------------------------- checks


def _model_of(config: Config):
    """(Location, layer, templates, device) of the config's source, or the error."""
    from .sources import _huggingface as hf
    from .sources import minilm_folder

    spec = normalize_spec(config.source)
    at = f"{config.path}: "
    if spec["kind"] == "minilm":
        return hf.Location(str(minilm_folder()), name="minilm"), "input", None, "cpu"
    if spec["kind"] != "huggingface":
        raise PermtestError(f"{at}permtest cascade re-initialises a Hugging Face model layer by layer; source kind "
                            f"'{spec['kind']}' has no model (use kind: huggingface with layer: N or input, or minilm)")
    if _is_sweep(spec):
        raise PermtestError(f"{at}permtest cascade takes one layer (layer: N or input), not a layer sweep")
    where = hf.Location(spec["model"], spec["revision"], spec["trust_remote_code"], spec_label(spec))
    return where, spec["layer"], spec.get("templates"), spec.get("device", "cpu")


def _claim_problem(config: Config, claim) -> str | None:
    at = f"{config.path}: claim '{claim.name}': "
    code = measures.loads_code(claim.statistic)
    if code is not None:
        return f"{at}permtest cascade runs built-in statistics only; statistic {code} is user code"
    declared = measures.lookup(claim.statistic, at)
    if declared.reads_neighbors:
        return (f"{at}statistic '{declared.name}' reads neighbour lists, which would need every vocabulary row of "
                "every re-initialised model; permtest cascade cannot compute it")
    return None


def check(config: Config) -> None:
    """Everything the cascade refuses, before anything loads: one error listing
    each problem (the source, ``preprocess``, each claim's statistic)."""
    _model_of(config)
    problems = []
    if config.preprocess != "none":
        problems.append(f"{config.path}: key 'preprocess': permtest cascade cannot apply preprocess: "
                        f"{config.preprocess} (it would need every row of each re-initialised model); use none")
    problems += [p for claim in config.claims if (p := _claim_problem(config, claim)) is not None]
    if problems:
        raise PermtestError("\n".join(problems))


# ---------------------------------------------------------------- the models


class _Models:
    """The trained model and, for any set of layers and seed, the model with those
    layers re-initialised (see the module's docstring)."""

    def __init__(self, where, layer, templates, device: str = "cpu"):
        from .sources import _huggingface as hf

        self.where, self.layer, self.templates = where, layer, templates
        self.device = hf.torch_device(device)
        self.config = hf.load_config(where)
        self.depth = hf.layer_count(self.config)
        self.tokenizer = hf.load_tokenizer(where)
        self.trained = hf.load_network(where).float().eval()
        self._encoded: dict = {}  # tokenised sentences, shared by every step
        self.layer_of = self._layers_of(self._blocks())

    def _blocks(self) -> str:
        import torch

        found = [name for name, module in self.trained.named_modules()
                 if isinstance(module, torch.nn.ModuleList) and len(module) == self.depth]
        if len(found) != 1:
            raise PermtestError(f"{self.where.name}: cannot tell the {self.depth} layers of model "
                                f"{self.where.model!r} apart ({len(found)} lists of {self.depth} modules); the "
                                "cascade re-initialises them one by one")
        return found[0]

    def _layers_of(self, blocks: str) -> dict[str, int]:
        """Tensor name -> its layer: ``i + 1`` inside block ``i``; outside the blocks, 0
        when its module runs before the first block, the top layer otherwise."""
        import torch

        inside = f"{blocks}."
        order: list[str] = []
        hooks = []
        for name, module in self.trained.named_modules():
            owns = next(iter([*module.parameters(recurse=False), *module.buffers(recurse=False)]), None) is not None
            if name == f"{blocks}.0" or (owns and not name.startswith(inside)):
                hooks.append(module.register_forward_pre_hook(lambda _m, _a, name=name: order.append(name)))
        ids = self.tokenizer(["the"], return_tensors="pt")["input_ids"]
        try:
            with torch.inference_mode():
                self.trained(input_ids=ids)
        finally:
            for hook in hooks:
                hook.remove()
        before = set(order[:order.index(f"{blocks}.0")]) if f"{blocks}.0" in order else set()
        layer_of = {}
        for name, _ in [*self.trained.named_parameters(), *self.trained.named_buffers()]:
            if name.startswith(inside):
                layer_of[name] = int(name[len(inside):].split(".")[0]) + 1
            else:
                layer_of[name] = 0 if name.rpartition(".")[0] in before else self.depth
        return layer_of

    def network(self, randomised: tuple[int, ...], seed: np.random.SeedSequence):
        """The model with ``randomised`` layers drawn by its initialiser from ``seed``
        and the others trained; the trained model itself when there are none."""
        import torch

        from .sources._random_weights import _global_generator, _torch_seed, _whole_model

        if not randomised:
            return self.trained
        with _global_generator() as generator:
            generator.manual_seed(_torch_seed(seed))
            fresh = _whole_model(copy.deepcopy(self.config))  # from_config writes to the config it is given
        trained = {**dict(self.trained.named_parameters()), **dict(self.trained.named_buffers())}
        kept = set(range(self.depth + 1)) - set(randomised)
        with torch.no_grad():
            for name, tensor in [*fresh.named_parameters(), *fresh.named_buffers()]:
                if name not in self.layer_of or name not in trained:
                    raise PermtestError(f"{self.where.name}: the re-initialised model has a tensor {name!r} the "
                                        "trained one lacks; the cascade cannot mix them")
                if self.layer_of[name] in kept:
                    tensor.copy_(trained[name])
        return fresh

    def vectors(self, words, randomised: tuple[int, ...], seed: np.random.SeedSequence) -> np.ndarray:
        """``(len(words), d)`` float64 at the config's layer. ``words``: the claim's
        words (an integer layer) or token ids (``layer: input``)."""
        from .sources._random_weights import _Sentences

        network = self.network(randomised, seed)
        if self.layer == "input":
            return network.get_input_embeddings().weight.detach()[list(words)].numpy().astype(np.float64)
        if self.device.type != "cpu":
            network = copy.deepcopy(network).to(self.device)
        sentences = _Sentences(self.where, self.tokenizer, self.config, self.device, self._encoded, network=network)
        return sentences.vectors(list(words), list(self.templates), self.layer).astype(np.float64)


# ---------------------------------------------------------------- the cascade


def run(config: Config, n_jobs: int = 1) -> Cascade:
    """The cascade of every claim of ``config`` (with its overrides: ``seed``, and
    the null's count ``config.permutations_for("random-weights")``).

    Raises
    ------
    PermtestError
        For a source that is not a Hugging Face model (or minilm), a layer sweep,
        ``preprocess``, a user statistic or one reading neighbour lists, and
        anything a ``random-weights`` test of a claim refuses; naming the config
        and the claim.
    """
    check(config)
    where, layer, templates, device = _model_of(config)
    emb = load_source(config.source, words=config.words)
    prepared = []
    problems = []
    for claim in config.claims:
        options = {**runner._claim_options(config, claim), "early_stop": False, "tail": "none"}
        try:
            word_groups, measure, _ = validate_claim(emb, claim.groups, null=NULL, **options)
        except PermtestError as exc:
            problems.append(str(exc))
            continue
        prepared.append((claim, options, word_groups, measure))
    if problems:
        raise PermtestError("\n".join(problems))
    models = _Models(where, layer, templates, device)
    plan = steps(models.depth)
    results = []
    for claim, options, word_groups, measure in prepared:
        null = permutation_test(emb, claim.groups, null=NULL, permutations=config.permutations_for(NULL),
                                seed=config.seed, n_jobs=n_jobs, stream=runner.stream_key(claim.name, NULL), **options)
        if layer == "input":  # the claim's pieces, as token ids of the model
            words = [models.tokenizer.convert_tokens_to_ids(emb.vocab[row]) for row in word_groups.piece_rows]
        else:
            words = list(word_groups.words)
        values, reached = [], []
        for step, randomised in enumerate(plan):
            reached.append(reaches(randomised, layer))
            if not reached[-1]:
                values.append(null.observed)  # hidden_states[layer] runs before these layers
                continue
            vectors = models.vectors(words, randomised, step_seed(config.seed, claim.name, step))
            vectors = word_groups.pool(vectors[None])
            values.append(float(measure(Draw(measure.labels, vectors=vectors, rows=word_groups.rows[None]))[0]))
        low, _, high = _band(null.null_distribution)
        results.append(ClaimCascade(claim.name, measure.name, _frozen(values), _frozen(reached, bool),
                                    null.observed, null, low, high))
    return Cascade(config, layer, models.depth, plan, tuple(results))


def _frozen(values, dtype=np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    array.flags.writeable = False
    return array


# ---------------------------------------------------------------- files


def file_names(config: Config) -> tuple[str, list[str]]:
    """``<config>-cascade.csv`` and ``<config>-cascade-<claim>.png`` per claim, made
    file-name-safe (claims that differ only in unsafe characters get a hash)."""
    bases = [_safe(f"{config.name}-cascade-{claim.name}") for claim in config.claims]
    uses: dict[str, int] = {}
    for base in bases:
        uses[base.casefold()] = uses.get(base.casefold(), 0) + 1
    plots = [base + (f"-{_crc(claim.name):08x}" if uses[base.casefold()] > 1 else "") + ".png"
             for claim, base in zip(config.claims, bases)]
    return _safe(f"{config.name}-cascade") + ".csv", plots


def write(cascade: Cascade, out_dir, plots: bool = True) -> list[Path]:
    """The CSV and (unless ``plots`` is False: ``--no-plots``) one PNG per claim, all
    or nothing (:func:`permtest.report._write_atomically`)."""
    import pandas as pd

    table = pd.DataFrame(cascade.rows(), columns=list(COLUMNS))
    csv, pngs = file_names(cascade.config)

    def write_csv(path: Path) -> None:
        table.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")  # floats by repr(): full precision

    writers = [(csv, write_csv)]
    if plots:
        writers += [(name, lambda path, one=one: plot(cascade, one, path))
                    for name, one in zip(pngs, cascade.claims)]
    return _write_atomically(Path(out_dir), "--out", writers)


def plot(cascade: Cascade, one: ClaimCascade, path: Path) -> None:
    """The statistic per step against the trained value and the null's band; steps
    that cannot reach the layer hollow."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layer, depth = cascade.layer, cascade.depth
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = np.arange(len(cascade.steps))
    axes.axhspan(one.null_low, one.null_high, color="#c9d1dc",
                 label=f"random-weights null, central 95% ({one.null.permutations} models)")
    axes.axhline(one.trained, color="#5b6b80", linestyle="--", linewidth=1, label=f"trained {one.trained:.4g}")
    axes.plot(x, one.values, color="#c0392b", linewidth=1.5, zorder=2)
    unchanged = ~one.reaches_layer & (x > 0)  # steps re-initialising only layers above the claim's
    axes.scatter(x[~unchanged], one.values[~unchanged], color="#c0392b", zorder=3, label="cascade")
    if unchanged.any():
        above = "the input embeddings" if layer == "input" else f"layer {layer}"
        axes.scatter(x[unchanged], one.values[unchanged], facecolors="white", edgecolors="#c0392b", zorder=3,
                     label=f"only layers above {above}: trained value")
        axes.axvline(int(np.argmax(one.reaches_layer)) - 0.5, color="#5b6b80", linestyle=":", linewidth=1,
                     label=f"from here on the re-initialised layers reach {above}")
    labels = ["none"] + [f"≥{low}" for low in range(depth, -1, -1)]
    axes.set_xticks(x, labels, fontsize=7 if len(x) <= 14 else 6, rotation=0 if len(x) <= 14 else 90)
    axes.set_xlabel(f"layers re-initialised, top first (of {depth}; 0 = embeddings)")
    axes.set_ylabel(f"{one.statistic} statistic")
    at = "input embeddings" if layer == "input" else f"layer {layer}"
    axes.set_title(f"{cascade.config.name}: {one.claim} at {at}\ncascading randomisation (Adebayo et al. 2018)",
                   fontsize=10)
    figure.legend(fontsize=7, frameon=False, loc="outside lower center", ncols=2)
    figure.savefig(path, format="png")


def summary(cascade: Cascade) -> str:
    """One line per claim for the terminal: trained value, band, values by step."""
    lines = []
    for one in cascade.claims:
        values = " ".join(f"{v:.3g}" for v in one.values)
        lines.append(f"{one.claim} [{one.statistic}]: trained {one.trained:.4g}, random-weights 95% "
                     f"{one.null_low:.4g}..{one.null_high:.4g}; steps 0-{len(one.values) - 1}: {values}")
    return "\n".join(lines)
