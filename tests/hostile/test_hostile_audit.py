"""What an audit of the first pass at issue 10 still found (each failed before its fix)."""

from __future__ import annotations

import numpy as np
from test_hostile_configs import BASE  # a small valid config on glove

from permtest.cli import main


def test_two_hundred_thousand_bad_keys_print_a_bounded_list(tmp_path, capsys):
    path = tmp_path / "keys.yaml"
    path.write_text(BASE + "".join(f"k{i}: 1\n" for i in range(200_000)))
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 101
    assert lines[0] == f"error: {path}: key 'k0': unknown key"
    assert lines[-1] == f"error: {path}: ... and 199,900 more problems"


def test_an_unquoted_yaml_boolean_among_the_words_says_to_quote_it(tmp_path, capsys):
    path = tmp_path / "no.yaml"
    path.write_text(BASE.replace("[two, three, four]", "[yes, no, maybe]"))
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"error: {path}: claim 'numbers': key 'groups.numbers': words must be non-empty strings; "
                     f"got {value}, which YAML reads from an unquoted yes, no, on, off, true, false or null: "
                     "quote the word (e.g. 'no')" for value in (True, False)]


def test_a_folder_without_an_extension_is_named_a_folder_not_a_text_file(tmp_path, capsys):
    (tmp_path / "vectors").mkdir()
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("source: glove", "source: {kind: file, path: vectors, vocab: vocab.txt}"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'vectors'}: is a folder, not a file" in err, err


def test_a_symlink_loop_without_an_extension_is_named_a_loop(tmp_path, capsys):
    loop = tmp_path / "vectors"
    loop.symlink_to(loop)
    np.save(tmp_path / "unused.npy", np.eye(2))
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("source: glove", "source: {kind: file, path: vectors, vocab: vocab.txt}"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symlink loop" in err, err
