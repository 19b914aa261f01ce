"""Vectors of a claim's words in freshly initialised models (the ``random-weights``
null): the fast path against the literal definition, seeding, re-initialisation and
bad input. Offline: tiny random models built in a temporary folder
(tests/tiny_models.py).

The oracle of the distribution tests is :func:`literal`, the definition written
out here independently of permtest: ``AutoModel.from_config`` of the whole model
under ``torch.manual_seed``, its token-embedding rows, and a forward pass whose
``hidden_states[layer]`` is averaged over the word's pieces found by character
offsets. ``naive_vectors`` is checked to be that same definition, seed for seed, and
the fast ``vectors`` to have its distribution (two-sample Kolmogorov-Smirnov tests
on 5,000 draws each), with power checks showing those tests reject a wrong
distribution.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tiny_models import TEMPLATES, with_init_range

from permtest.errors import PermtestError
from permtest.sources import _huggingface as hf
from permtest.sources._random_weights import RandomWeights, _Sentences
from permtest.statistics import coherence, cosines

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ["cat", "dog", "red", "blue"]
TEMPLATE = "I saw the {} here."  # every word one piece: the sentences need no padding
DRAWS = 5000
SMALLER = 1000  # draws of the alternatives in the power checks
GPT2_DRAWS = 1000
ACCEPT = 1e-3  # a two-sample test of equal distributions passes when p > ACCEPT
# At the default initializer_range (0.02) a 32-wide model's attention and MLP barely
# move its residual stream, so layers 0, 1 and 2 have the same statistics and a
# wrong layer would pass unseen; at 0.3 each layer's distribution is its own.
INIT_RANGE = 0.3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and the bits compared below are then
    those of one fixed thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def scaled_bert(bert_folder, tmp_path_factory):
    return with_init_range(bert_folder, tmp_path_factory.mktemp("scaled") / "bert", INIT_RANGE)


def where(folder) -> hf.Location:
    return hf.Location(str(folder), name="tiny")


def seeds(stream: int, count: int, start: int = 0) -> list[np.random.SeedSequence]:
    """One SeedSequence per permutation, as the engine derives its streams."""
    return [np.random.SeedSequence(20240611, spawn_key=(stream, i)) for i in range(start, start + count)]


# ---------------------------------------------------------------- the oracle


class Literal:
    """The definition, written out: the whole model from its config, initialised
    from ``torch.manual_seed``; input rows and ``hidden_states[layer]`` pooled over
    the word's pieces (found by character offsets) in one template."""

    def __init__(self, folder, words, template, layer, byte_level=False):
        self.config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        vocab = tokenizer.get_vocab()
        self.rows = [vocab["Ġ" + w] if byte_level else vocab[w] for w in words]
        start = template.index("{}")
        encoded = tokenizer([template.replace("{}", w) for w in words], return_offsets_mapping=True)
        assert len({len(ids) for ids in encoded["input_ids"]}) == 1  # no padding needed
        self.ids = torch.tensor(encoded["input_ids"])
        self.pieces = torch.tensor([[float(e > s and s < start + len(w) and e > start) for s, e in offsets]
                                    for w, offsets in zip(words, encoded["offset_mapping"])])
        self.layer = layer

    def __call__(self, seed: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
        """(input rows, layer vectors) of one model, float64."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed.generate_state(1, np.uint64)[0]))
            model = transformers.AutoModel.from_config(self.config).eval()
        with torch.inference_mode():
            rows = model.get_input_embeddings().weight[self.rows].double().numpy()
            hidden = model(input_ids=self.ids, output_hidden_states=True).hidden_states[self.layer]
            pooled = (hidden * self.pieces[..., None]).sum(1) / self.pieces.sum(1, keepdim=True)
        return rows, pooled.double().numpy()


def coherence_of(draws: np.ndarray) -> np.ndarray:
    """``(B, n, d)`` -> ``(B,)`` mean pairwise cosine of the n words."""
    return coherence(cosines(draws), np.zeros(draws.shape[1], dtype=int), 1)


def mean_norm(draws: np.ndarray) -> np.ndarray:
    return np.linalg.norm(draws, axis=2).mean(axis=1)


def ks(a: np.ndarray, b: np.ndarray) -> float:
    return stats.ks_2samp(a, b).pvalue


@pytest.fixture(scope="module")
def bert_draws(scaled_bert):
    """5,000 draws of the literal definition (input rows and layer 1 from the same
    models) and of the fast path at both layers, from disjoint seeds."""
    literal = Literal(scaled_bert, WORDS, TEMPLATE, layer=1)
    pairs = [literal(seed) for seed in seeds(0, DRAWS)]
    fast_input = RandomWeights(where(scaled_bert), "input", words=WORDS)
    fast_layer = RandomWeights(where(scaled_bert), 1, words=WORDS, templates=[TEMPLATE])
    return {
        "literal_input": np.stack([rows for rows, _ in pairs]),
        "literal_layer": np.stack([vectors for _, vectors in pairs]),
        "fast_input": np.stack([fast_input.vectors(seed) for seed in seeds(1, DRAWS)]),
        "fast_layer": np.stack([fast_layer.vectors(seed) for seed in seeds(2, DRAWS)]),
    }


# ---------------------------------------------------------------- the fast path's distribution


def test_naive_vectors_is_the_literal_definition(scaled_bert):
    """Oracle: Literal above, seed for seed (same seed, same model)."""
    literal = Literal(scaled_bert, WORDS, TEMPLATE, layer=1)
    at_input = RandomWeights(where(scaled_bert), "input", words=WORDS)
    at_layer = RandomWeights(where(scaled_bert), 1, words=WORDS, templates=[TEMPLATE])
    for seed in seeds(3, 3):
        rows, vectors = literal(seed)
        np.testing.assert_array_equal(at_input.naive_vectors(seed), rows)
        np.testing.assert_allclose(at_layer.naive_vectors(seed), vectors, rtol=1e-5, atol=1e-6)


def test_fast_input_rows_have_the_literal_distribution(bert_draws):
    """Oracle: 5,000 whole models from AutoModel.from_config (Literal); KS p > 1e-3
    on the words' coherence and on their mean norm (the cosine alone cannot see the
    scale of the initialiser)."""
    fast, literal = bert_draws["fast_input"], bert_draws["literal_input"]
    assert ks(coherence_of(fast), coherence_of(literal)) > ACCEPT
    assert ks(mean_norm(fast), mean_norm(literal)) > ACCEPT


def test_fast_layer_has_the_literal_distribution(bert_draws):
    """Oracle: hidden_states[1] of 5,000 whole 2-layer models (Literal), the fast
    path running 1 block on drawn rows; KS p > 1e-3 on coherence."""
    assert ks(coherence_of(bert_draws["fast_layer"]), coherence_of(bert_draws["literal_layer"])) > ACCEPT


def test_the_comparison_rejects_a_wrong_distribution(bert_draws, scaled_bert, tmp_path):
    """Power: the same tests reject (p < 1e-6) an initialiser 1.25 times as wide at
    the input layer, and layer 2 in place of layer 1."""
    wider = with_init_range(scaled_bert, tmp_path / "wider", INIT_RANGE * 1.25)
    wrong_input = RandomWeights(where(wider), "input", words=WORDS)
    draws = np.stack([wrong_input.vectors(seed) for seed in seeds(4, SMALLER)])
    assert ks(mean_norm(draws), mean_norm(bert_draws["literal_input"])) < 1e-6
    wrong_layer = RandomWeights(where(scaled_bert), 2, words=WORDS, templates=[TEMPLATE])
    draws = np.stack([wrong_layer.vectors(seed) for seed in seeds(5, SMALLER)])
    assert ks(coherence_of(draws), coherence_of(bert_draws["literal_layer"])) < 1e-6


def test_gpt2_layer_has_the_literal_distribution(gpt2_folder):
    """A decoder: GPT-2 applies ln_f to its last hidden state, so the fast path keeps
    one block more than the layer (2 of 2 for layer 1) and scales c_proj by the
    model's full depth. Oracle: Literal (1,000 draws each); KS p > 1e-3 on coherence
    and mean norm (a final ln_f left in would make every norm ~5.7, not ~0.15)."""
    literal = Literal(gpt2_folder, WORDS, TEMPLATE, layer=1, byte_level=True)
    fast = RandomWeights(where(gpt2_folder), 1, words=WORDS, templates=[TEMPLATE])
    assert fast.depth == 2
    expected = np.stack([literal(seed)[1] for seed in seeds(6, GPT2_DRAWS)])
    draws = np.stack([fast.vectors(seed) for seed in seeds(7, GPT2_DRAWS)])
    assert ks(coherence_of(draws), coherence_of(expected)) > ACCEPT
    assert ks(mean_norm(draws), mean_norm(expected)) > ACCEPT


def test_gpt2_input_rows_are_its_byte_level_tokens(gpt2_folder):
    """Oracle: the vocabulary's "Ġword" entries, as the input-layer source reads them."""
    vocab = transformers.AutoTokenizer.from_pretrained(str(gpt2_folder), local_files_only=True).get_vocab()
    by_words = RandomWeights(where(gpt2_folder), "input", words=WORDS)
    by_rows = RandomWeights(where(gpt2_folder), "input", rows=[vocab["Ġ" + w] for w in WORDS])
    seed = seeds(8, 1)[0]
    np.testing.assert_array_equal(by_words.vectors(seed), by_rows.vectors(seed))
    assert by_rows.names == tuple(vocab["Ġ" + w] for w in WORDS)


def test_pooling_is_the_real_sources(bert_folder):
    """Oracle: Encoder.vectors, the real contextual source, on the trained weights:
    the same network through the random-weights pooling gives the same vectors."""
    tokenizer = hf.load_tokenizer(where(bert_folder))
    real = hf.Encoder(where(bert_folder), tokenizer, "cpu")
    source = RandomWeights(where(bert_folder), 1, words=WORDS + ["spider"], templates=TEMPLATES)
    sentences = _Sentences(source.where, tokenizer, source.config, source.device, {}, network=real.network)
    np.testing.assert_allclose(source._pooled(sentences), real.vectors(WORDS + ["spider"], TEMPLATES, 1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model, depths", [("bert", {0: 1, 1: 1, 2: 2}), ("gpt2", {0: 1, 1: 2, 2: 2})])
def test_the_fast_path_runs_only_the_blocks_it_needs(bert_folder, gpt2_folder, model, depths):
    """BERT's hidden_states[N] is block N's raw output; GPT-2's last one has passed
    ln_f, so reading layer 1 of 2 needs both blocks. Layer 0 still runs one block:
    transformers 5 records no hidden states from a model with none."""
    folder = bert_folder if model == "bert" else gpt2_folder
    for layer, depth in depths.items():
        assert RandomWeights(where(folder), layer, words=WORDS, templates=TEMPLATES).depth == depth


# ---------------------------------------------------------------- seeds


@pytest.mark.parametrize("layer", ["input", 0, 1, 2])
def test_same_seed_same_bits_and_the_callers_generator_untouched(bert_folder, layer):
    """Oracle: exact equality. The caller's torch generator draws what it would have
    drawn without the call."""
    source = RandomWeights(where(bert_folder), layer, words=WORDS, templates=None if layer == "input" else TEMPLATES)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = source.vectors(np.random.SeedSequence(7, spawn_key=(1, 2)))
    other = source.vectors(np.random.SeedSequence(8, spawn_key=(1, 2)))
    again = source.vectors(np.random.SeedSequence(7, spawn_key=(1, 2)))
    assert torch.equal(torch.rand(3), expected_next)
    assert first.dtype == np.float64 and first.shape == (len(WORDS), 32)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.isfinite(first).all()


def test_a_rows_vector_does_not_depend_on_the_other_words(bert_folder):
    """Per-row seeding: 'cat' at layer input is the same bits in {cat, dog} and in
    {cat, red}, and the same as its row asked by token id; the padding row is zero,
    as the model makes it. At an integer layer the word's vector agrees too (the
    other words change only the batch)."""
    vocab = transformers.AutoTokenizer.from_pretrained(str(bert_folder), local_files_only=True).get_vocab()
    seed = np.random.SeedSequence(99, spawn_key=(4,))
    with_dog = RandomWeights(where(bert_folder), "input", words=["cat", "dog"]).vectors(seed)
    with_red = RandomWeights(where(bert_folder), "input", words=["cat", "red"]).vectors(seed)
    by_id = RandomWeights(where(bert_folder), "input", rows=[vocab["[PAD]"], vocab["cat"]]).vectors(seed)
    np.testing.assert_array_equal(with_dog[0], with_red[0])
    np.testing.assert_array_equal(with_dog[0], by_id[1])
    assert not np.array_equal(with_dog[1], with_red[1])
    assert not by_id[0].any()
    layer_dog = RandomWeights(where(bert_folder), 1, words=["cat", "dog"], templates=TEMPLATES).vectors(seed)
    layer_red = RandomWeights(where(bert_folder), 1, words=["cat", "red"], templates=TEMPLATES).vectors(seed)
    np.testing.assert_allclose(layer_dog[0], layer_red[0], rtol=1e-5, atol=1e-6)


def test_reinitialisation_changes_the_weights(bert_folder):
    """transformers 5 flags what it has initialised and skips it the next time: the
    flags are cleared, so every random matrix is new each permutation, none is the
    trained one, and LayerNorms are back at their initial ones and zeros."""
    source = RandomWeights(where(bert_folder), 2, words=WORDS, templates=TEMPLATES)
    trained = hf.load_network(where(bert_folder))
    source.vectors(np.random.SeedSequence(1))
    first = {name: p.detach().clone() for name, p in source._model.named_parameters()}
    source.vectors(np.random.SeedSequence(2))
    second = dict(source._model.named_parameters())
    trained_weights = dict(trained.named_parameters())
    matrices = [name for name, p in first.items() if p.ndim == 2]
    assert len(matrices) >= 12  # two blocks' attention and MLP, the embeddings
    for name in matrices:
        assert not torch.equal(first[name], second[name]), name
        if name in trained_weights and trained_weights[name].shape == first[name].shape:
            assert not torch.allclose(first[name], trained_weights[name]), name
    norms = [p for name, p in second.items() if "LayerNorm.weight" in name]
    assert norms and all(torch.equal(p, torch.ones_like(p)) for p in norms)


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-t5")
    transformers.T5Config(vocab_size=64, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2).save_pretrained(
        str(folder))
    return folder


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": 3, "words": WORDS, "templates": TEMPLATES},
     r"^tiny: source key 'layer': model '.*' has 2 layers, so layer must be 'input' or 0\.\.2 \(0 = the embedding output\); got 3$"),
    ({"layer": "first", "words": WORDS},
     r"^tiny: layer must be 'input' or an integer >= 0 \(0 = the embedding output\); got 'first'$"),
    ({"layer": True, "words": WORDS}, r"^tiny: layer must be 'input' or an integer >= 0 .*; got True$"),
    ({"layer": 1, "words": ["cat", "zzzq"], "templates": TEMPLATES},
     r"^tiny: the tokenizer of '.*' does not know the word 'zzzq' \(it reads as \[UNK\]\)"),
    ({"layer": "input", "words": ["cat", "purple"]},
     r"^tiny: 'purple' is not a token in the vocabulary of '.*'; at layer 'input' each word must be one token$"),
    ({"layer": 1, "words": WORDS}, r"^source key 'templates' is required for an integer layer"),
    ({"layer": 1, "words": WORDS, "templates": ["no slot"]},
     r"^source key 'templates': template 1 must be a string holding exactly one \{\}"),
    ({"layer": 1, "words": [], "templates": TEMPLATES}, r"^tiny: words must be a non-empty list of non-empty strings"),
    ({"layer": "input", "words": WORDS, "rows": [5]}, r"^tiny: layer 'input' needs either words or rows"),
    ({"layer": "input", "rows": [5, 38]}, r"^tiny: rows must be token ids in 0\.\.37; got 38$"),
    ({"layer": "input", "words": WORDS, "device": "gpu"}, r"^tiny: device must be cpu, cuda or cuda:N; got 'gpu'$"),
])
def test_bad_input_is_one_line(bert_folder, kwargs, message):
    with pytest.raises(PermtestError, match=message) as caught:
        RandomWeights(where(bert_folder), **kwargs)
    assert "\n" not in str(caught.value)


def test_an_encoder_decoder_is_refused(t5_folder):
    with pytest.raises(PermtestError, match=r"^tiny: model '.*' is an encoder-decoder; contextual layers need an "
                                            r"encoder-only or decoder-only model \(layer: input works\)$"):
        RandomWeights(where(t5_folder), 1, words=WORDS, templates=TEMPLATES)


def test_a_seed_must_be_a_seed_sequence(bert_folder):
    source = RandomWeights(where(bert_folder), "input", words=WORDS)
    with pytest.raises(PermtestError, match=r"^seed must be a numpy.random.SeedSequence \(one per permutation\); "
                                            r"got int$"):
        source.vectors(7)
