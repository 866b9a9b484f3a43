"""Lexicon files: parsing, errors with positions, merging and whole-word replacement."""

from __future__ import annotations

import pytest

from pipeline.errors import ScriptError
from pipeline.lexicon import apply_lexicon, load_lexicon, merge_lexicons, parse_lexicon
from pipeline.model import Lexicon

L = "scripts_src/lexicon.toml"


def test_parse_all_and_locale_tables():
    lexicon = parse_lexicon(
        '[all]\nCFT = "C F T"\n"Paul Gilbert" = "Paul Gil-bert"\n\n[en-gb]\nscone = "skon"\n', L
    )
    assert lexicon.by_scope == (
        ("all", (("CFT", "C F T"), ("Paul Gilbert", "Paul Gil-bert"))),
        ("en-GB", (("scone", "skon"),)),
    )


def test_locale_table_wins_over_all():
    lexicon = parse_lexicon('[all]\ntomato = "to-mah-to"\n[en-US]\ntomato = "to-may-to"\n', L)
    assert lexicon.for_locale("en-US") == {"tomato": "to-may-to"}
    assert lexicon.for_locale("en-GB") == {"tomato": "to-mah-to"}


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("[all]\nCFT = 3\n", "2:1", "the spoken form of 'CFT' must be a quoted string"),
        ('[all]\nCFT = "  "\n', "2:1", "the spoken form of 'CFT' is empty"),
        ('CFT = "C F T"\n', "1:1", "'CFT' is outside a table: put words under [all] or [en-GB]"),
        ('[all]\nx = "y"\n[english]\nz = "w"\n', "3:1", "unknown table [english]: use [all]"),
        ('[all]\n" CFT" = "c"\n', "2:1", "word ' CFT' must not be empty or start or end"),
        ("[all]\nCFT = \n", "2:7", "invalid lexicon: Invalid value"),
        (
            '[all]\nCFT = "C\\u0000T"\n',
            "2:1",
            "the spoken form of 'CFT' holds control character U+0000 (only tabs and line",
        ),
    ],
)
def test_lexicon_errors_have_positions(text, position, message):
    with pytest.raises(ScriptError) as caught:
        parse_lexicon(text, L)
    (error,) = caught.value.errors
    assert str(error).startswith(f"{L}:{position}: {message}")


def test_every_problem_of_a_lexicon_is_reported():
    with pytest.raises(ScriptError) as caught:
        parse_lexicon('[all]\na = 1\nb = "ok"\nc = true\n', L)
    assert [(e.line, e.col) for e in caught.value.errors] == [(2, 1), (4, 1)]


def test_merge_nearest_wins_per_key_and_scope():
    near = Lexicon((("all", (("CFT", "near"),)),))
    far = Lexicon((("all", (("CFT", "far"), ("NHS", "N H S"))), ("en-GB", (("CFT", "gb"),))))
    merged = merge_lexicons([near, far])
    assert merged.for_locale("en-US") == {"CFT": "near", "NHS": "N H S"}
    # A locale table wins over [all], even one from a farther file.
    assert merged.for_locale("en-GB") == {"CFT": "gb", "NHS": "N H S"}


def test_load_lexicon_reads_files_from_the_script_folder_up_to_the_root(tmp_path):
    scripts = tmp_path / "scripts_src" / "deep"
    scripts.mkdir(parents=True)
    (tmp_path / "lexicon.toml").write_text('[all]\nA = "root"\nB = "root"\n')
    (tmp_path / "scripts_src" / "lexicon.toml").write_text('[all]\nB = "middle"\nC = "middle"\n')
    (scripts / "lexicon.toml").write_text('[all]\nC = "near"\n')
    (tmp_path.parent / "lexicon.toml").write_text('[all]\nD = "outside the root"\n')
    lexicon = load_lexicon(scripts, tmp_path)
    assert lexicon.for_locale("en-GB") == {"A": "root", "B": "middle", "C": "near"}


def test_load_lexicon_reports_errors_of_every_file_relative_to_the_root(tmp_path):
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "lexicon.toml").write_text("[all]\nA = 1\n")
    (tmp_path / "scripts_src" / "lexicon.toml").write_text("[all\n")
    with pytest.raises(ScriptError) as caught:
        load_lexicon(tmp_path / "scripts_src", tmp_path)
    assert [(e.path, e.line) for e in caught.value.errors] == [
        ("lexicon.toml", 2),
        ("scripts_src/lexicon.toml", 1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CFT helps.", "C F T helps."),
        ("CFTs and xCFT stay.", "CFTs and xCFT stay."),  # whole words only
        ("cft stays.", "cft stays."),  # case-sensitive
        ("Paul Gilbert and Paul.", "Paul Gil-bert and Pol."),  # longest key first
        ("(CFT)", "(C F T)"),
    ],
)
def test_apply_lexicon_replaces_whole_words(text, expected):
    mapping = {"CFT": "C F T", "Paul Gilbert": "Paul Gil-bert", "Paul": "Pol"}
    assert apply_lexicon(text, mapping) == expected


def test_a_replacement_is_never_replaced_again():
    assert apply_lexicon("A B", {"A": "B", "B": "C"}) == "B C"


def test_empty_lexicon_leaves_text_alone():
    assert apply_lexicon("Anything.", {}) == "Anything."
