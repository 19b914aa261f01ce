"""Claim words' vectors in freshly initialised models: the ``random-weights`` null.

The null asks whether a claim is stronger in the trained model than in untrained
models of the same architecture. One permutation re-initialises the architecture
with the model's *own* initialiser (``AutoModel.from_config(config)`` and its
``_init_weights``) from the permutation's seed; tokenizer, templates and words stay
as they are, and the words' vectors are defined exactly as the real ones
(:class:`permtest.sources._huggingface.Encoder`: ``hidden_states[layer]``, mean over
the word's pieces in each template sentence, then over the templates; or, at
``layer: "input"``, rows of the token-embedding matrix).

:meth:`RandomWeights.naive_vectors` is that definition, literally: the whole model,
every row of its vocabulary. :meth:`RandomWeights.vectors` draws from the same
distribution at a fraction of the cost:

* only the embedding rows the claim reads (the tokens of its words and templates),
  each drawn by the model's initialiser applied to a one-row copy of its input
  embedding, seeded by the permutation and the *token id*. A row is the same
  whichever other words the claim has, and the same at ``layer: "input"`` and at
  every integer layer of the same permutation. This assumes the initialiser draws
  embedding rows independently (normal, uniform or truncated normal with a std
  that does not depend on the vocabulary size), as every ``_init_weights`` in
  transformers does for token embeddings; the padding row is zero as the model
  makes it.
* only the layers below ``layer``: the model's block list is cut after them (the
  config keeps its depth, so an initialiser that scales by depth, GPT-2's, draws
  as in the whole model). One more block is kept when the model's last hidden
  state is not the raw block output (GPT-2's final ``ln_f``): the cut is chosen
  once, as the shortest whose ``hidden_states[layer]`` equals the whole model's, bit
  for bit, on the claim's first sentences.
* one model object, re-initialised in place each permutation; each template's
  sentences in one batch (little padding), pooled as :meth:`Encoder.vectors` pools
  them, the templates then averaged in float64.

The two agree in distribution, not in bits (they consume random numbers in a
different order); ``tests/test_random_weights.py`` compares them with two-sample
tests.

Seeding. A permutation is one :class:`numpy.random.SeedSequence`; the caller derives
it as the engine does for its streams, ``SeedSequence(seed, spawn_key=stream +
(permutation,))``. Embedding row ``t`` is seeded by ``spawn_key + (0, t)``, every
other weight by ``spawn_key + (1,)``: the permutation's children are this module's,
not to be spawned for anything else. ``naive_vectors`` seeds from the permutation's
own state.
transformers' initialisers draw from torch's *global* generator and take no
generator argument, so each draw runs inside ``torch.random.fork_rng`` with the CPU
generator seeded from the SeedSequence: the caller's torch RNG state is restored on
exit, and a module lock keeps two threads of this module from interleaving their
draws (one ``RandomWeights`` is still not for concurrent calls: its model is
re-initialised in place; use one per thread or process). Weights are always drawn
on the CPU (then copied to ``device``), so the same seed gives the same weights on
every device.

Re-initialising in place: ``PreTrainedModel.initialize_weights`` (transformers 5)
skips every module and tensor flagged ``_is_hf_initialized``, and it flags each one
it initialises, so a second call is a no-op; the flags are cleared before each
permutation (``test_reinitialisation_changes_the_weights`` checks it works).
"""

from __future__ import annotations

import copy
import re
import threading
from contextlib import contextmanager

import numpy as np

from .._checks import AnyOf, Choice, Integer, require
from ..errors import PermtestError
from . import _huggingface as hf
from . import _templates

__all__ = ["RandomWeights"]

_ROWS, _WEIGHTS = 0, 1  # spawn-key domains under a permutation's SeedSequence
# Not the source's own layer check: a config's layer may also be 'all' (a sweep of layers).
_LAYER = AnyOf(Choice(("input",)), Integer(0), expected="'input' or an integer >= 0 (0 = the embedding output)")
_LOCK = threading.Lock()  # transformers' initialisers draw from torch's global CPU generator


def _torch_seed(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1, np.uint64)[0])


def _child(seed: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + key, pool_size=seed.pool_size)


@contextmanager
def _global_generator():
    """torch's global CPU generator, to seed inside; its state is restored after."""
    import torch

    with _LOCK, torch.random.fork_rng(devices=[]), torch.no_grad():
        yield torch.default_generator


def _whole_model(config):
    """``AutoModel.from_config``: the architecture, initialised from the global
    generator by its own ``post_init``; float32, dropout off, as :class:`Encoder`
    runs the trained one."""
    return hf._transformers().AutoModel.from_config(config).float().eval()


def _clear_initialised_flags(modules, tensors) -> None:
    """Make ``initialize_weights`` initialise these again: it skips whatever is
    flagged ``_is_hf_initialized`` and flags what it initialises."""
    for module in modules:
        module.__dict__["_is_hf_initialized"] = False  # nn.Module.__setattr__ is slow, and this is no parameter
    for tensor in tensors:
        if getattr(tensor, "_is_hf_initialized", False):
            tensor._is_hf_initialized = False


def _initialise(model) -> None:
    """The model's own initialisation of every module not flagged as initialised."""
    if hasattr(model, "initialize_weights"):  # transformers >= 4.48
        model.initialize_weights()
    else:
        model.init_weights()


def _resized(embedding, rows: int):
    """The model's input-embedding module (its class and attributes: a scaled
    embedding keeps its scale) with a fresh ``(rows, d)`` weight and no padding row."""
    import torch

    weight = embedding.weight
    embedding.weight = None  # not copied: it can be the whole vocabulary
    try:
        resized = copy.deepcopy(embedding)
    finally:
        embedding.weight = weight
    resized.weight = torch.nn.Parameter(torch.empty(rows, weight.shape[1], device="cpu"), requires_grad=False)
    resized.num_embeddings = rows
    resized.padding_idx = None
    return resized


def _remap_ids(module, args, kwargs):
    """Forward pre-hook of the compact embedding: token ids -> its rows."""
    if args:
        return (module.row_of_token[args[0]], *args[1:]), kwargs
    return args, {**kwargs, "input": module.row_of_token[kwargs["input"]]}


class _Sentences(hf.Encoder):
    """:class:`Encoder`'s tokenisation and pooling over a network built here. Its
    ``__init__`` would load the trained weights, so only what ``vectors`` and
    ``_encode`` read is set; encodings are computed once and reused."""

    def __init__(self, where: hf.Location, tokenizer, config, device, encoded: dict, network=None):
        self.where = where
        self.tokenizer = tokenizer
        self.device = device
        self.network = network
        self.max_tokens = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        self._encoded = encoded

    def _encode(self, pairs):
        key = tuple(pairs)
        if key not in self._encoded:
            self._encoded[key] = super()._encode(pairs)
        return self._encoded[key]


class RandomWeights:
    """The claim's vectors in a freshly initialised copy of a model's architecture.

    Parameters
    ----------
    where : Location
        The model (a local folder or the Hugging Face cache; never downloaded). Only
        its config and tokenizer are read, never its weights.
    layer : "input" or int
        ``"input"``: rows of the token-embedding matrix. ``N``: ``hidden_states[N]``
        (0 = the embedding output), pooled as :class:`Encoder` pools the real ones.
    words : sequence of str, optional
        The claim's words: required for an integer layer; at ``"input"``, each must
        be one vocabulary entry (spelled as the real source spells it: ``"Ġword"``
        first in a byte-level vocabulary), unless ``rows`` is given instead.
    templates : list of str, optional
        Sentences holding one ``{}`` each; required for an integer layer.
    rows : sequence of int, optional
        ``layer: "input"`` only: the token ids to draw (duplicates allowed).
    tokens : sequence of str, optional
        ``layer: "input"`` only, instead of ``rows``: vocabulary entries exactly as
        spelled (a source's rows: the piece ``cat`` is not the whole word ``Ġcat``).
    device : str
        ``cpu``, ``cuda`` or ``cuda:N``: where the forward pass runs. Weights are
        drawn on the CPU whatever the device.

    Attributes
    ----------
    names : tuple
        What each row of :meth:`vectors` stands for: the words, or the token ids.
    width : int
        The vectors' dimension.
    depth : int or None
        Blocks the fast path runs (integer layers), of ``layers`` in the model.
    """

    def __init__(self, where: hf.Location, layer, words=None, templates=None, rows=None, device: str = "cpu",
                 tokens=None):
        self.where = where
        self.layer = require(layer, _LAYER, "layer", where=f"{where.name}: ")
        if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
            raise PermtestError(f"{where.name}: device must be cpu, cuda or cuda:N; got {device!r}")
        self.device = hf.torch_device(device)
        self.config = hf.load_config(where)
        if self.layer != "input":
            hf.check_layer(where, self.config, self.layer)
        self.layers = hf.layer_count(self.config) if self.layer != "input" else None
        self.tokenizer = hf.load_tokenizer(where)
        self._encoded: dict = {}
        with _global_generator() as generator:
            generator.manual_seed(0)  # the construction's own draws are overwritten every permutation
            self._model = _whole_model(self.config) if self.layer != "input" else self._shell()
        embedding = self._model.get_input_embeddings()
        self._vocab_size = embedding.num_embeddings
        self._padding = embedding.padding_idx
        self.width = embedding.embedding_dim
        self._one_row = _resized(embedding, 1)
        if self.layer == "input":
            self._setup_input(words, rows if tokens is None else self._token_ids(tokens))
        else:
            self._setup_layer(words, templates)

    # ------------------------------------------------------------ construction

    def _shell(self):
        """The architecture without its weights (on the meta device): only its
        ``_init_weights`` and input-embedding module are used at ``layer: "input"``."""
        import torch

        with torch.device("meta"):
            return hf._transformers().AutoModel.from_config(self.config)

    def _setup_input(self, words, rows) -> None:
        if (words is None) == (rows is None):
            raise PermtestError(f"{self.where.name}: layer 'input' needs either words or rows (token ids), not both")
        if rows is not None:
            if isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
                raise PermtestError(f"{self.where.name}: rows must be a list of token ids; got {rows!r}")
            rows = list(rows)
            token_id = Integer(0, self._vocab_size - 1, expected=f"token ids in 0..{self._vocab_size - 1}")
            self._rows = [require(row, token_id, "rows", where=f"{self.where.name}: ") for row in rows]
            self.names = tuple(self._rows)
        else:
            words = self._checked_words(words)
            self.names = tuple(words)
            self._rows = [self._token_id(word) for word in words]
        self.depth = None
        self._templates = None

    def _token_ids(self, tokens) -> list[int]:
        """The ids of vocabulary entries, exactly as spelled."""
        vocab = self.tokenizer.get_vocab()
        missing = [token for token in tokens if token not in vocab]
        if missing:
            raise PermtestError(f"{self.where.name}: {missing[0]!r} is not an entry of the tokenizer's vocabulary")
        return [vocab[token] for token in tokens]

    def _token_id(self, word: str) -> int:
        """The row the input-layer source reads for ``word``: its first spelling
        found in the vocabulary (:class:`Spellings`, as ``Embeddings.spellings``)."""
        vocab = self.tokenizer.get_vocab()
        start = hf.word_start(self.tokenizer)
        forms = hf.Spellings(start)(word) if start is not None else (word,)
        for form in forms:
            if form in vocab and vocab[form] < self._vocab_size:
                return vocab[form]
        raise PermtestError(f"{self.where.name}: {word!r} is not a token in the vocabulary of "
                            f"{self.where.model!r}; at layer 'input' each word must be one token")

    def _checked_words(self, words) -> list[str]:
        if words is None or isinstance(words, str) or not hasattr(words, "__iter__"):
            raise PermtestError(f"{self.where.name}: words must be a list of words; got {words!r}")
        words = list(words)
        if not words or any(not isinstance(word, str) or not word.strip() for word in words):
            raise PermtestError(f"{self.where.name}: words must be a non-empty list of non-empty strings; "
                                f"got {words!r}")
        return words

    def _setup_layer(self, words, templates) -> None:
        import torch

        self.names = tuple(self._checked_words(words))
        self._templates = _templates(templates)
        self._sentences = _Sentences(self.where, self.tokenizer, self.config, self.device, self._encoded)
        # Every pair at once: refuses an unknown word now, and lists every token the
        # sentences use (0 too: Encoder pads with it), whatever the batches.
        ids, _, _ = self._sentences._encode([(w, t) for w in self.names for t in self._templates])
        self._rows = sorted({0, *ids.unique().tolist()})
        self.depth = self._cut(self._model)
        compact = _resized(self._model.get_input_embeddings(), len(self._rows))
        row_of_token = torch.zeros(self._vocab_size, dtype=torch.long)
        row_of_token[self._rows] = torch.arange(len(self._rows))
        compact.register_buffer("row_of_token", row_of_token, persistent=False)
        compact.register_forward_pre_hook(_remap_ids, with_kwargs=True)
        compact.requires_grad_(False)
        compact._is_hf_initialized = True
        compact.weight._is_hf_initialized = True  # its rows are drawn one by one, by token id
        self._compact = compact
        self._model.set_input_embeddings(compact)
        self._reset_modules = [module for module in self._model.modules() if module is not compact]
        kept = {id(compact.weight), id(compact.row_of_token)}
        self._reset_tensors = [tensor for tensor in [*self._model.parameters(), *self._model.buffers()]
                               if id(tensor) not in kept]
        self._sentences.network = self._model if self.device.type == "cpu" else copy.deepcopy(self._model).to(
            self.device)

    def _blocks(self, model):
        """(parent, name, blocks): the model's one ModuleList of ``layers`` blocks,
        or None when it has not exactly one (then nothing is cut)."""
        import torch

        found = [name for name, module in model.named_modules()
                 if isinstance(module, torch.nn.ModuleList) and len(module) == self.layers]
        if len(found) != 1:
            return None
        parent, _, name = found[0].rpartition(".")
        return model.get_submodule(parent), name, getattr(model.get_submodule(parent), name)

    def _cut(self, model) -> int:
        """Cut the model after the fewest blocks whose ``hidden_states[layer]`` equals,
        bit for bit, the whole model's on the claim's first sentences; return how many
        it keeps. ``layer`` blocks for BERT; one more where the last hidden state is
        not the raw block output (GPT-2's ``ln_f``); all of them where neither cut
        gives the same numbers or the model cannot run cut (its forward counts the
        config's layers, say)."""
        import torch

        found = self._blocks(model)
        if found is None or self.layer >= self.layers:
            return self.layers
        parent, name, blocks = found
        pairs = [(w, t) for w in self.names[:2] for t in self._templates]
        ids, attention, _ = self._sentences._encode(pairs)

        def hidden(depth: int):
            setattr(parent, name, torch.nn.ModuleList(list(blocks)[:depth]))
            try:
                with torch.inference_mode():
                    states = model(input_ids=ids, attention_mask=attention, output_hidden_states=True).hidden_states
            except Exception:  # a forward that cannot run cut: keep every block
                return None
            return states[self.layer] if states is not None and len(states) > self.layer else None

        whole = hidden(self.layers)
        for depth in (self.layer, self.layer + 1):
            cut = hidden(depth) if depth >= 1 else None
            if whole is not None and cut is not None and torch.equal(cut, whole):
                return depth
        setattr(parent, name, blocks)
        return self.layers

    # ------------------------------------------------------------ drawing

    def _draw_rows(self, seed: np.random.SeedSequence, rows, generator):
        """``(len(rows), d)`` float32: each token's embedding row, drawn by the
        model's ``_init_weights`` on a one-row copy of its input embedding, seeded by
        the permutation and the token id alone."""
        import torch

        out = torch.empty(len(rows), self.width)
        for k, row in enumerate(rows):
            generator.manual_seed(_torch_seed(_child(seed, _ROWS, row)))
            self._one_row.padding_idx = 0 if row == self._padding else None
            self._model._init_weights(self._one_row)
            out[k] = self._one_row.weight[0]
        return out

    def vectors(self, seed: np.random.SeedSequence) -> np.ndarray:
        """``(len(names), width)`` float64: the vectors in one freshly initialised
        model, the same bits for the same ``seed`` (on the same machine and torch
        thread count). The caller's torch RNG state is left as it was."""
        seed = _checked_seed(seed)
        if self.layer == "input":
            with _global_generator() as generator:
                return self._draw_rows(seed, self._rows, generator).numpy().astype(np.float64)
        with _global_generator() as generator:
            _clear_initialised_flags(self._reset_modules, self._reset_tensors)
            generator.manual_seed(_torch_seed(_child(seed, _WEIGHTS)))
            _initialise(self._model)
            self._compact.weight.copy_(self._draw_rows(seed, self._rows, generator))
            if self._sentences.network is not self._model:
                for target, source in zip([*self._sentences.network.parameters(), *self._sentences.network.buffers()],
                                          [*self._model.parameters(), *self._model.buffers()]):
                    target.copy_(source)
        return self._pooled(self._sentences)

    def _pooled(self, sentences: _Sentences) -> np.ndarray:
        """:meth:`Encoder.vectors` template by template, then the mean over templates:
        one template's sentences have nearly the same length, so a batch carries
        little padding (word-major batches mix short and long templates)."""
        total = np.zeros((len(self.names), self.width))
        for template in self._templates:
            total += sentences.vectors(list(self.names), [template], self.layer)
        return total / len(self._templates)

    def naive_vectors(self, seed: np.random.SeedSequence) -> np.ndarray:
        """The literal definition, for tests and benchmarks: ``AutoModel.from_config``
        of the whole model under torch's CPU generator seeded with
        ``seed.generate_state(1, numpy.uint64)[0]``, then its input-embedding rows or a
        full forward pass (``hidden_states[layer]``, pooled as the real vectors)."""
        seed = _checked_seed(seed)
        with _global_generator() as generator:
            generator.manual_seed(_torch_seed(seed))
            model = _whole_model(copy.deepcopy(self.config))  # from_config writes to the config it is given
        if self.layer == "input":
            weight = model.get_input_embeddings().weight.detach()
            return weight[self._rows].numpy().astype(np.float64)
        sentences = _Sentences(self.where, self.tokenizer, self.config, self.device, self._encoded,
                               network=model.to(self.device))
        return self._pooled(sentences)


def _checked_seed(seed) -> np.random.SeedSequence:
    if not isinstance(seed, np.random.SeedSequence):
        raise PermtestError(f"seed must be a numpy.random.SeedSequence (one per permutation); got "
                            f"{type(seed).__name__}")
    return seed
