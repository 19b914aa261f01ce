"""Hostile source files: FIFOs, devices, symlink loops, headers that lie about their
size, a gzip bomb, control characters in words, a Hugging Face cache's symlinks and
a malicious ``pytorch_model.bin``. Every file is made here, by the test.

The contract (issue 10): each gives one line, a :class:`PermtestError` naming the
file through the API, or exit code 2 with one ``error:`` line and no traceback
through the command line, within 10 seconds, and nothing in a file ever runs.
The symlinked-binary case must instead load, as the format its name says.

Whatever could hang (a FIFO, ``/dev/zero``) or allocate without bound (a sparse
file) runs in a child process with ``signal.alarm`` and an address-space limit, so
that a regression fails the test instead of hanging or swapping the suite.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import permtest
from permtest import sources
from permtest.errors import PermtestError
from permtest.sources import _readers as readers

SECONDS = 10  # what a hostile file may cost before its message
PACKAGE_ROOT = str(Path(permtest.__file__).resolve().parent.parent)  # the permtest under test, for children
WORDS = ["red", "green", "blue", "yellow", "purple", "cat", "dog", "tree"]


@pytest.fixture(autouse=True)
def fresh_sources(monkeypatch):
    """Every test loads its files afresh (load_source caches by spec)."""
    monkeypatch.setattr(sources, "_cache", {})


def matrix() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((len(WORDS), 4)).astype(np.float32)


def write_vocab(path: Path, words=WORDS) -> Path:
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def write_text(path: Path) -> Path:
    path.write_text("".join(f"{w} {' '.join(repr(float(x)) for x in row)}\n" for w, row in zip(WORDS, matrix())),
                    encoding="utf-8")
    return path


def assert_one_line(message: str, *names: str) -> None:
    """One line, short, no terminal control characters, naming what it should."""
    assert "\n" not in message and len(message) < 600, message[:600]
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in message), message
    for name in names:
        assert name in message, (name, message)


def load_error(spec) -> str:
    """The message of the PermtestError that loading ``spec`` raises (in process)."""
    start = time.monotonic()
    with pytest.raises(PermtestError) as caught:
        permtest.load_source(spec)
    assert time.monotonic() - start < SECONDS
    return str(caught.value)


# ---------------------------------------------------------------- in a child process

# Both children: an address-space limit (reading /dev/zero ends in MemoryError, not
# in swapping the machine) and an alarm that raises what no loader catches.
_LIMITS = r"""
import resource, signal, sys
memory, seconds = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
class Hung(BaseException):
    pass
def hung(*_):
    raise Hung(f"still loading after {seconds} s")
signal.signal(signal.SIGALRM, hung)
"""

_CHILD = _LIMITS + r"""
import json, time
spec = json.loads(sys.argv[3])
import permtest
signal.alarm(seconds)  # a model folder's files are checked before transformers is imported
start = time.monotonic()
try:
    permtest.load_source(spec)
    out = {"type": None, "message": "loaded"}
except BaseException as exc:
    out = {"type": type(exc).__name__, "message": str(exc)}
signal.alarm(0)
out["seconds"] = time.monotonic() - start
print(json.dumps(out))
"""


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def load_error_isolated(spec, cwd: Path, memory: int = 4 << 30) -> str:
    """Like :func:`load_error`, in a child that SIGALRM stops after SECONDS and
    that cannot map more than ``memory`` bytes (reading /dev/zero ends there)."""
    spec = {k: str(v) if isinstance(v, Path) else v for k, v in spec.items()}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(memory), str(SECONDS), json.dumps(spec)],
                              capture_output=True, text=True, cwd=cwd, env=child_env(), timeout=SECONDS + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {spec} hung past the alarm")
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["type"] == "PermtestError", out
    assert out["seconds"] < SECONDS, out
    return out["message"]


# ---------------------------------------------------------------- FIFOs and devices


@pytest.mark.parametrize("role, name", [
    ("path", "vectors.txt"), ("path", "vectors.txt.gz"), ("path", "m.npy"), ("path", "m.safetensors"),
    ("vocab", "vocab.txt"),
])
def test_a_fifo_is_refused_at_once(tmp_path, role, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    if role == "path":
        spec = {"kind": "file", "path": fifo}
        if not name.startswith("vectors"):
            spec["vocab"] = write_vocab(tmp_path / "words.txt")
    else:
        np.save(tmp_path / "m.npy", matrix())
        spec = {"kind": "file", "path": tmp_path / "m.npy", "vocab": fifo}
    message = load_error_isolated(spec, tmp_path)
    assert_one_line(message, str(fifo), "FIFO")


@pytest.mark.parametrize("role, name", [
    ("path", None), ("path", "zero.npy"), ("path", "zero.safetensors"), ("path", "zero.txt.gz"),
    ("vocab", "zero-vocab.txt"),
])
def test_dev_zero_is_refused_not_read_forever(tmp_path, role, name):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    zero = Path("/dev/zero")
    if name is not None:
        zero = tmp_path / name
        zero.symlink_to("/dev/zero")
    if role == "path":
        spec = {"kind": "file", "path": zero}
        if name is not None and not name.endswith(".gz"):
            spec["vocab"] = write_vocab(tmp_path / "words.txt")
    else:
        np.save(tmp_path / "m.npy", matrix())
        spec = {"kind": "file", "path": tmp_path / "m.npy", "vocab": zero}
    message = load_error_isolated(spec, tmp_path)
    assert_one_line(message, str(zero), "is a device")


@pytest.mark.parametrize("role, name", [("path", "loop.txt"), ("path", "loop.npy"), ("path", "loop.safetensors"),
                                        ("vocab", "loop-vocab.txt")])
def test_a_symlink_loop_is_named_as_one(tmp_path, role, name):
    loop = tmp_path / name
    loop.symlink_to(loop.name)  # points at itself
    if role == "path":
        spec = {"kind": "file", "path": str(loop)}
        if not name.endswith(".txt"):
            spec["vocab"] = str(write_vocab(tmp_path / "words.txt"))
    else:
        np.save(tmp_path / "m.npy", matrix())
        spec = {"kind": "file", "path": str(tmp_path / "m.npy"), "vocab": str(loop)}
    assert_one_line(load_error(spec), str(loop), "symlink loop")


# ---------------------------------------------------------------- headers that lie


def npy_header(shape, descr: str = "<f8", version: tuple[int, int] = (1, 0)) -> bytes:
    """A header as numpy writes it (the test's oracle for the format)."""
    import io

    out = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(out, header)
    else:
        np.lib.format.write_array_header_2_0(out, header)
    return out.getvalue()


def test_an_npy_header_claiming_terabytes_allocates_nothing(tmp_path):
    # The reproducer: 129 bytes whose header says shape (1e11, 8) of float64.
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header((10**11, 8)) + b"\0")
    assert path.stat().st_size == 129
    spec = {"kind": "file", "path": str(path), "vocab": str(write_vocab(tmp_path / "vocab.txt"))}
    message = load_error(spec)
    assert_one_line(message, str(path), "truncated", "(100000000000, 8)", "6,400,000,000,000 bytes")

    # safetensors checks its own header against the file: a header length of a
    # terabyte, or a tensor that claims terabytes, is refused without allocating.
    lying = tmp_path / "huge.safetensors"
    lying.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    assert_one_line(load_error({**spec, "path": str(lying)}), str(lying), "not a readable .safetensors file")
    header = json.dumps({"m": {"dtype": "F64", "shape": [10**11, 8], "data_offsets": [0, 8 * 8 * 10**11]}}).encode()
    lying.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
    assert_one_line(load_error({**spec, "path": str(lying)}), str(lying), "not a readable .safetensors file")


def test_a_sparse_npy_larger_than_memory_is_refused_before_reading(tmp_path):
    # Header and size agree, but the data (6.4 TB of holes) cannot fit in memory.
    path = tmp_path / "sparse.npy"
    header = npy_header((10**11, 8))
    path.write_bytes(header)
    try:
        os.truncate(path, len(header) + 8 * 8 * 10**11)
    except OSError:
        pytest.skip("this file system holds no 6.4 TB sparse file")
    spec = {"kind": "file", "path": path, "vocab": write_vocab(tmp_path / "vocab.txt")}
    message = load_error_isolated(spec, tmp_path)
    assert_one_line(message, str(path), "6,400,000,000,000 bytes of data", "memory")


def test_a_sparse_text_file_larger_than_memory_is_refused_before_reading(tmp_path):
    path = write_text(tmp_path / "vectors.txt")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        os.truncate(path, 2 * memory)
    except OSError:
        pytest.skip("this file system holds no sparse file of twice the memory")
    message = load_error_isolated({"kind": "file", "path": path}, tmp_path)
    assert_one_line(message, str(path), "memory")


@pytest.mark.parametrize("case", ["truncated data", "trailing data", "truncated header"])
def test_an_npy_file_must_be_as_long_as_its_header_says(tmp_path, case):
    path = tmp_path / "m.npy"
    np.save(path, matrix())
    data = path.read_bytes()
    if case == "truncated data":
        path.write_bytes(data[:-4])  # np.load reads this as 'not fully written'
        expected = "truncated"
    elif case == "trailing data":
        path.write_bytes(data + b"\0" * 4)  # np.load reads this silently
        expected = "longer than its header says"
    else:
        path.write_bytes(data[:40])
        expected = "truncated: the file ends inside its"
    spec = {"kind": "file", "path": str(path), "vocab": str(write_vocab(tmp_path / "vocab.txt"))}
    assert_one_line(load_error(spec), str(path), expected)


def test_an_npy_header_is_parsed_safely_and_quoted_safely(tmp_path):
    vocab = str(write_vocab(tmp_path / "vocab.txt"))
    # Not a dict, holding an OSC sequence (retitles a terminal) and 5,000 characters.
    path = tmp_path / "list.npy"
    literal = repr(["\x1b]0;owned\x07" + "x" * 5000])
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(literal) + 1) + literal.encode() + b"\n")
    message = load_error({"kind": "file", "path": str(path), "vocab": vocab})
    assert_one_line(message, str(path), "not a readable .npy file", "Header is not a dictionary")
    # A header length beyond numpy's own bound: numpy's message advises allow_pickle=True.
    path = tmp_path / "long.npy"
    path.write_bytes(npy_header((len(WORDS), 4), "<f4", (2, 0))[:8] + struct.pack("<I", 20_000)
                     + b" " * 20_000 + b"\0" * 128)
    message = load_error({"kind": "file", "path": str(path), "vocab": vocab})
    assert_one_line(message, str(path), "20,000-byte header")
    assert "allow_pickle" not in message


def test_a_pickled_npy_runs_nothing_and_advises_nothing_unsafe(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "objects.npy"
    np.save(path, np.array([_Payload(marker)] * len(WORDS), dtype=object).reshape(-1, 1), allow_pickle=True)
    assert not marker.exists()
    message = load_error({"kind": "file", "path": str(path), "vocab": str(write_vocab(tmp_path / "vocab.txt"))})
    assert_one_line(message, str(path), "pickled Python objects", "never unpickles")
    assert "allow_pickle" not in message
    assert not marker.exists()


class _Payload:
    """Unpickling this creates ``marker``: proof that code in a file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ---------------------------------------------------------------- text that lies


def test_a_gzip_bomb_stops_at_the_memory_bound(tmp_path, monkeypatch):
    # Deflate packs 64 MiB of zeros into 64 KiB; the bound stands in for a
    # machine's memory (the real bound is the physical memory).
    monkeypatch.setattr(readers, "_memory_bytes", lambda: 16 << 20, raising=False)
    path = tmp_path / "bomb.txt.gz"
    with gzip.open(path, "wb") as stream:
        for _ in range(64):
            stream.write(b"\0" * (1 << 20))
    assert path.stat().st_size < 1 << 20
    message = load_error({"kind": "file", "path": str(path)})
    assert_one_line(message, str(path), "inflates to more than 16,777,216 bytes")


@pytest.mark.parametrize("parser", ["exact", "fast"])
def test_control_characters_in_words_are_escaped_in_messages(tmp_path, monkeypatch, parser):
    monkeypatch.setattr(readers, "FAST_TEXT_BYTES", 0 if parser == "fast" else 1 << 60)
    osc = "\x1b]0;owned\x07"  # would retitle the terminal the message is printed on
    path = tmp_path / "vectors.txt"
    path.write_text(f"{osc} 1 2\nred 3 4\n{osc} 5 6\n", encoding="utf-8")
    message = load_error({"kind": "file", "path": str(path)})
    assert_one_line(message, str(path), "line 3: duplicate word", "\\x1b]0;owned\\x07")

    np.save(tmp_path / "m.npy", np.ones((3, 2), np.float32))
    (tmp_path / "vocab.txt").write_bytes(b"a\0b\nred\na\0b\n")
    message = load_error({"kind": "file", "path": str(tmp_path / "m.npy"), "vocab": str(tmp_path / "vocab.txt")})
    assert_one_line(message, "vocab.txt: line 3: duplicate word", "a\\x00b")


def test_a_huge_token_is_cut_in_messages(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("red 1 2\ngreen 3 " + "x" * 1_000_000 + "\n", encoding="utf-8")
    message = load_error({"kind": "file", "path": str(path)})
    assert_one_line(message, str(path), "line 2:", "is not a number")


@pytest.mark.parametrize("first", ["\u00b2 \u00b3", "1" * 5000 + " 2"], ids=["superscript digits", "5000 digits"])
def test_a_first_line_that_only_looks_like_a_header_is_an_error_not_a_crash(tmp_path, first):
    # str.isdigit() accepts '²', which int() refuses; int() refuses 5,000 digits.
    path = tmp_path / "vectors.txt"
    path.write_text(first + "\nred 1 2\ngreen 3 4\n", encoding="utf-8")
    assert_one_line(load_error({"kind": "file", "path": str(path)}), str(path), "line ")


# ---------------------------------------------------------------- a Hugging Face cache's symlinks


def hub_layout(root: Path) -> tuple[Path, Path, bytes]:
    """``snapshots/x/emb.npy -> ../../blobs/<hash>``: the blobs have no extension."""
    blobs, snapshot = root / "blobs", root / "snapshots" / "x"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    np.save(root / "tmp.npy", matrix())
    data = (root / "tmp.npy").read_bytes()
    (root / "tmp.npy").unlink()
    names = {}
    for name, content in (("emb.npy", data), ("vocab.txt", "\n".join(WORDS).encode() + b"\n")):
        blob = hashlib.sha256(content).hexdigest()
        (blobs / blob).write_bytes(content)
        (snapshot / name).symlink_to(Path("..") / ".." / "blobs" / blob)
        names[name] = snapshot / name
    return names["emb.npy"], names["vocab.txt"], data


def test_a_symlinked_npy_is_read_as_npy_through_the_api(tmp_path):
    emb_path, vocab_path, _ = hub_layout(tmp_path / "hub")
    emb = permtest.load_source({"kind": "file", "path": str(emb_path), "vocab": str(vocab_path)})
    assert emb.matrix.tobytes() == matrix().tobytes() and emb.vocab == tuple(WORDS)
    # Provenance names the file as the user named it, and the blob that was read.
    assert emb.details["path"] == os.path.abspath(emb_path)
    assert emb.details["path_resolved"] == os.path.realpath(emb_path)
    assert emb.details["format"] == "npy"


CONFIG = """\
version: 1
source: {{kind: file, path: {path}, vocab: {vocab}}}
permutations: 99
nulls: [shuffle]
claims:
  - name: colours
    statistic: coherence
    groups:
      colours: [red, green, blue]
"""


def run_cli(args, cwd: Path) -> subprocess.CompletedProcess:
    """``permtest`` in a child: a hang becomes a failed test, not a stuck suite."""
    code = _LIMITS + "signal.alarm(seconds)\nfrom permtest.cli import main\nsys.exit(main(sys.argv[3:]))\n"
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", code, str(4 << 30), str(SECONDS), *map(str, args)],
                              capture_output=True, text=True, cwd=cwd, env=child_env(), timeout=SECONDS + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"permtest {' '.join(map(str, args))} hung")
    done.seconds = time.monotonic() - start
    return done


def assert_usage_error(done: subprocess.CompletedProcess, *names: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert_one_line(lines[0], *names)
    assert done.seconds < SECONDS  # the alarm's bound, imports included


def test_a_symlinked_npy_is_read_as_npy_through_a_config(tmp_path):
    hub_layout(tmp_path / "hub")
    config = tmp_path / "hub.yaml"
    config.write_text(CONFIG.format(path="hub/snapshots/x/emb.npy", vocab="hub/snapshots/x/vocab.txt"))
    done = run_cli(["run", config, "--out", tmp_path / "reports", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    row = __import__("pandas").read_csv(tmp_path / "reports" / "hub.csv").iloc[0]
    assert row["source"] == "emb"  # the name the user gave, not the blob's
    assert row["source_sha256"] == permtest.Embeddings.from_array(matrix(), WORDS).sha256


@pytest.mark.parametrize("hostile", ["fifo", "dev-zero", "loop"])
def test_a_config_naming_a_hostile_vector_file_exits_2_with_one_line(tmp_path, hostile):
    path = tmp_path / "vectors.txt"
    if hostile == "fifo":
        os.mkfifo(path)
        reason = "FIFO"
    elif hostile == "dev-zero":
        path.symlink_to("/dev/zero")
        reason = "is a device"
    else:
        path.symlink_to(path.name)
        reason = "symlink loop"
    config = tmp_path / "hostile.yaml"
    config.write_text(textwrap.dedent("""\
        version: 1
        source: {kind: file, path: vectors.txt}
        permutations: 99
        nulls: [shuffle]
        claims:
          - name: colours
            statistic: coherence
            groups:
              colours: [red, green, blue]
        """))
    assert_usage_error(run_cli(["run", config, "--out", tmp_path / "reports"], tmp_path), "vectors.txt", reason)
    assert not (tmp_path / "reports" / "hostile.csv").exists()


# ---------------------------------------------------------------- Hugging Face model folders


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    from tiny_models import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def copy_model(bert_folder: Path, folder: Path) -> Path:
    import shutil

    shutil.copytree(bert_folder, folder)
    return folder


def test_a_malicious_pytorch_model_bin_runs_nothing_and_advises_nothing_unsafe(bert_folder, tmp_path):
    import torch

    folder = copy_model(bert_folder, tmp_path / "malicious")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "MARKER"
    torch.save({"embeddings.word_embeddings.weight": _Payload(marker)}, folder / "pytorch_model.bin")
    assert not marker.exists()
    message = load_error({"kind": "huggingface", "model": str(folder)})
    assert not marker.exists()
    assert_one_line(message, "pytorch_model.bin", "safe loader refuses", "nothing in it was run", "safetensors")
    assert "weights_only" not in message and "trusted source" not in message


@pytest.mark.parametrize("damage", ["fifo config.json", "fifo vocab.txt", "tokenizer.json is /dev/zero",
                                    "config.json loops"])
def test_a_model_folder_with_a_special_file_is_refused_at_once(bert_folder, tmp_path, damage):
    folder = copy_model(bert_folder, tmp_path / "model")
    name = damage.split()[1] if damage.startswith("fifo") else damage.split()[0]
    (folder / name).unlink()
    if damage.startswith("fifo"):
        os.mkfifo(folder / name)
        reason = "FIFO"
    elif "dev/zero" in damage:
        (folder / name).symlink_to("/dev/zero")
        reason = "is a device"
    else:
        (folder / name).symlink_to(name)
        reason = "symlink loop"
    message = load_error_isolated({"kind": "huggingface", "model": str(folder)}, tmp_path, memory=8 << 30)
    assert_one_line(message, str(folder / name), reason)


@pytest.mark.parametrize("damage", ["tokenizer.json of the wrong shape", "config.json is a list",
                                    "tokenizer_config.json is a list", "weights of another shape",
                                    "truncated safetensors", "pytorch_model.bin of garbage"])
def test_damaged_model_files_are_one_line_errors(bert_folder, tmp_path, damage):
    folder = copy_model(bert_folder, tmp_path / "model")
    if damage.startswith("tokenizer.json"):
        tokenizer = json.loads((folder / "tokenizer.json").read_text())
        tokenizer["model"] = {"type": "NoSuchModel"}
        (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    elif damage.startswith("config.json"):
        (folder / "config.json").write_text("[1, 2]")
    elif damage.startswith("tokenizer_config"):
        (folder / "tokenizer_config.json").write_text("[1, 2]")
    elif damage.startswith("weights"):
        config = json.loads((folder / "config.json").read_text())
        config["hidden_size"] *= 2
        (folder / "config.json").write_text(json.dumps(config))
    elif damage.startswith("truncated"):  # a SafetensorError already before issue 10: a regression guard
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    else:
        (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(b"garbage, not a checkpoint")
    message = load_error({"kind": "huggingface", "model": str(folder)})
    assert_one_line(message, str(folder))
    assert "weights_only" not in message and "above report" not in message
