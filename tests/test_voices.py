"""Voice profiles: loading, project overrides, strict validation with positions, resolution
with fallbacks, and the data behind ``voicetrack voices``.

Availability is real: hibari's cache points at an empty temporary folder, so ``emma`` is not
installed unless a test puts a file there.  Nothing is downloaded.
"""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.engines.base import engine_names
from pipeline.errors import ScriptError, VoiceError, VoiceUnavailable
from pipeline.locales import canonical_locale
from pipeline.model import VoiceSpec
from pipeline.paths import data_dir
from pipeline.voices import (
    Profile,
    describe_voices,
    load_profiles,
    resolve_voice,
)


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    caches = tmp_path / "caches"
    monkeypatch.setenv("HIBARI_HOME", str(caches / "hibari"))
    monkeypatch.setenv("HF_HOME", str(caches / "hf"))
    monkeypatch.setenv("VOICETRACK_DATA_DIR", str(caches / "voicetrack"))
    monkeypatch.setenv("VOICETRACK_ESPEAK", "wheel")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("tests must not reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return caches


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "voices").mkdir(parents=True)
    return project


def write(root: Path, name: str, text: str) -> Path:
    path = root / "voices" / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def install_emma(caches: Path) -> None:
    """Stand in for a downloaded emma voice: check() looks for the file, not inside it."""
    from hibari.voices import VOICES

    path = caches / "hibari" / VOICES["emma"]["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"emma")


def errors_of(root: Path) -> list[str]:
    with pytest.raises(ScriptError) as err:
        load_profiles(root)
    return [str(e) for e in err.value.errors]


# --------------------------------------------------------------------------- loading


def test_shipped_profiles(root: Path) -> None:
    profiles = load_profiles(root)
    assert {"narrator", "narrator-piper", "espeak"} <= set(profiles)
    narrator = profiles["narrator"]
    assert narrator.builtin
    assert narrator.choices("en-GB") == (
        VoiceSpec("hibari", model="emma"),
        VoiceSpec("espeak-ng", model="en-gb-x-rp"),
    )
    assert narrator.choices("en-US")[0] == VoiceSpec("hibari", model="heart")
    assert profiles["narrator-piper"].choices("en-US")[0] == VoiceSpec(
        "piper", model="en_US-joe-medium"
    )
    assert [s.engine for s in profiles["espeak"].choices("en-GB")] == ["espeak-ng"]


def test_project_profile_replaces_a_shipped_role_and_adds_new_ones(root: Path) -> None:
    write(
        root,
        "narrator.toml",
        """
        description = "Our narrator"
        [en-GB]
        engine = "fake"
        model = "low"
        speed = 0.9
        gain_db = -2
        """,
    )
    write(
        root,
        "guide.toml",
        """
        [en-us]
        engine = "fake"
        fallback = [{ engine = "espeak-ng", model = "en-us" }]
        """,
    )
    profiles = load_profiles(root)
    narrator = profiles["narrator"]
    assert not narrator.builtin and narrator.source == "voices/narrator.toml"
    assert narrator.description == "Our narrator"
    # The whole role is replaced: the shipped en-US choice does not leak through.
    assert narrator.locales == ("en-GB",)
    assert narrator.choices("en-GB") == (VoiceSpec("fake", model="low", speed=0.9, gain_db=-2.0),)
    guide = profiles["guide"]
    assert guide.locales == ("en-US",)
    assert guide.choices("en-US") == (VoiceSpec("fake"), VoiceSpec("espeak-ng", model="en-us"))
    assert "espeak" in profiles  # shipped roles not overridden stay


def test_paths_inside_the_root_are_kept(root: Path) -> None:
    write(
        root,
        "clone.toml",
        """
        [en-GB]
        engine = "piper"
        model_path = "models/me.onnx"
        config_path = "models/me.json"
        """,
    )
    spec = load_profiles(root)["clone"].choices("en-GB")[0]
    assert (spec.model_path, spec.config_path) == ("models/me.onnx", "models/me.json")


def test_canonical_locale() -> None:
    assert canonical_locale("en-gb") == "en-GB"
    assert canonical_locale("EN-us") == "en-US"
    assert canonical_locale("zh-hant-tw") == "zh-Hant-TW"


def test_data_dir_follows_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICETRACK_DATA_DIR", str(tmp_path / "here"))
    assert data_dir() == tmp_path / "here"
    monkeypatch.delenv("VOICETRACK_DATA_DIR")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "voicetrack"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data_dir() == Path.home() / ".local" / "share" / "voicetrack"


# --------------------------------------------------------------------------- validation


def test_unknown_keys_are_reported_with_positions_and_suggestions(root: Path) -> None:
    write(
        root,
        "bad.toml",
        """
        description = "Broken on purpose"

        [en-GB]
        engine = "fake"
        modle = "x"
        fallback = [
          { engine = "fake", spead = 1.2 },
          { engine = "hibary" },
        ]

        [en-US]
        engine = "hibari"
        speaker = "x"
        speed = 5
        """,
    )
    assert errors_of(root) == [
        "voices/bad.toml:5:1: unknown key 'modle' (did you mean 'model'?)",
        "voices/bad.toml:7:22: unknown key 'spead' (did you mean 'speed'?)",
        "voices/bad.toml:8:5: unknown engine 'hibary' (did you mean 'hibari'?); installed engines: "
        + ", ".join(engine_names()),
        "voices/bad.toml:13:1: the hibari engine does not use 'speaker' (its options: model)",
        "voices/bad.toml:14:1: speed must be a number from 0.5 to 2",
    ]


def test_every_file_is_reported(root: Path) -> None:
    write(root, "a.toml", '[en-GB]\nengine = "fake"\ngain = 3\n')
    write(root, "b.toml", 'engine = "fake"\n')
    write(
        root,
        "c.toml",
        '[en-GB]\nengine = "fake"\nfallback = [{ engine = "fake", fallback = [] }]\n',
    )
    assert errors_of(root) == [
        "voices/a.toml:3:1: unknown key 'gain' (did you mean 'gain_db'?)",
        "voices/b.toml:1:1: unknown key 'engine' "
        "(engine options go in a locale table such as [en-GB])",
        "voices/c.toml:3:32: a fallback entry cannot have fallbacks of its own",
    ]


def test_toml_syntax_errors_carry_their_position(root: Path) -> None:
    write(root, "broken.toml", '[en-GB]\nengine = "fake"\nmodel = \n')
    assert errors_of(root) == ["voices/broken.toml:3:9: invalid TOML: Invalid value"]


def test_values_are_checked(root: Path) -> None:
    write(
        root,
        "values.toml",
        """
        description = 3
        [en-GB]
        model = "emma"
        [en-US]
        engine = "piper"
        model_path = "../outside.onnx"
        speaker_wav = "one.wav"
        gain_db = true
        [en-AU]
        engine = 4
        [english]
        engine = "fake"
        ["en GB"]
        engine = "fake"
        """,
    )
    assert errors_of(root) == [
        "voices/values.toml:1:1: description must be a string",
        "voices/values.toml:2:1: missing key 'engine'",
        "voices/values.toml:6:1: model_path '../outside.onnx' resolves outside the project root",
        "voices/values.toml:7:1: the piper engine does not use 'speaker_wav' "
        "(its options: config_path, model, model_path, speaker)",
        "voices/values.toml:7:1: speaker_wav must be a list of paths",
        "voices/values.toml:8:1: gain_db must be a number from -30 to 30",
        "voices/values.toml:10:1: engine must be a string",
        "voices/values.toml:11:1: [english] is not a locale tag such as en-GB",
        "voices/values.toml:13:1: [en GB] is not a locale tag such as en-GB",
    ]


def test_a_profile_needs_a_locale(root: Path) -> None:
    write(root, "empty.toml", 'description = "Nothing here"\n')
    assert errors_of(root) == [
        "voices/empty.toml:1:1: the profile names no locale; add a table such as [en-GB]"
    ]


def test_symlinked_paths_that_leave_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "models").symlink_to(outside)
    write(root, "sneaky.toml", '[en-GB]\nengine = "piper"\nmodel_path = "models/x.onnx"\n')
    assert errors_of(root) == [
        "voices/sneaky.toml:3:1: model_path 'models/x.onnx' resolves outside the project root"
    ]


def test_a_profile_file_linked_from_outside_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.toml"
    outside.write_text('[en-GB]\nengine = "fake"\nmodel = "x"\n', encoding="utf-8")
    (root / "voices" / "sneaky.toml").symlink_to(outside)
    assert errors_of(root) == [
        "voices/sneaky.toml:1:1: voices/sneaky.toml is a link to a file outside the project root"
    ]


def test_a_voices_folder_linked_from_outside_the_root_is_refused(
    root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "shared-voices"
    outside.mkdir()
    (outside / "guest.toml").write_text('[en-GB]\nengine = "fake"\nmodel = "x"\n', encoding="utf-8")
    (root / "voices").rmdir()
    (root / "voices").symlink_to(outside)
    assert errors_of(root) == [
        "voices/guest.toml:1:1: voices/guest.toml is a link to a file outside the project root"
    ]


@pytest.mark.parametrize("name", ["../../secret", "/etc/passwd", "a/../../b"])
def test_a_model_name_is_a_name_not_a_path(root: Path, name: str) -> None:
    write(root, "sneaky.toml", f'[en-GB]\nengine = "piper"\nmodel = "{name}"\n')
    assert errors_of(root) == [
        f"voices/sneaky.toml:3:1: model {name!r} is a voice's name, not a path (for a file in "
        "the project, use model_path)"
    ]


def test_a_piper_model_name_never_reads_outside_the_data_folder(root: Path, offline: Path) -> None:
    from pipeline.engines.piper import PiperEngine

    secret = offline / "secret.onnx"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"onnx")
    (offline / "secret.onnx.json").write_text("{}", encoding="utf-8")
    with pytest.raises(VoiceError, match="leads outside the folder of installed voices"):
        PiperEngine.check(VoiceSpec("piper", model="../../secret"), root)


# --------------------------------------------------------------------------- resolution


def test_missing_first_choice_falls_back(root: Path) -> None:
    resolved = resolve_voice("narrator", "en-GB", root)
    assert resolved.spec == VoiceSpec("espeak-ng", model="en-gb-x-rp")
    assert resolved.fallback is True
    assert resolved.role == "narrator" and resolved.locale == "en-GB"
    [(skipped, reason)] = resolved.skipped
    assert skipped == VoiceSpec("hibari", model="emma")
    assert "hibari voice 'emma' is not downloaded" in reason


def test_installed_first_choice_is_used(root: Path, offline: Path) -> None:
    install_emma(offline)
    resolved = resolve_voice("narrator", "en-GB", root)
    assert resolved.spec == VoiceSpec("hibari", model="emma")
    assert resolved.fallback is False and resolved.skipped == ()


def test_bundled_voice_needs_no_fallback(root: Path) -> None:
    resolved = resolve_voice("narrator", "en-US", root)
    assert (resolved.spec, resolved.fallback) == (VoiceSpec("hibari", model="heart"), False)


def test_project_profile_with_the_fake_engine(root: Path) -> None:
    write(
        root,
        "narrator.toml",
        """
        [en-GB]
        engine = "hibari"
        model = "fable"
        fallback = [{ engine = "piper", model = "en_GB-nobody-low" }, { engine = "fake" }]
        """,
    )
    resolved = resolve_voice("narrator", "en-GB", root)
    assert resolved.spec == VoiceSpec("fake")
    assert resolved.fallback
    assert [s.label for s, _ in resolved.skipped] == ["hibari:fable", "piper:en_GB-nobody-low"]


def test_nothing_available_names_every_reason_and_the_first_hint(root: Path, offline: Path) -> None:
    write(
        root,
        "narrator.toml",
        """
        [en-GB]
        engine = "hibari"
        model = "fable"
        fallback = [{ engine = "piper", model = "en_GB-nobody-low" }]
        """,
    )
    with pytest.raises(VoiceUnavailable) as err:
        resolve_voice("narrator", "en-GB", root)
    message = str(err.value)
    assert "no voice of role 'narrator' is available for en-GB" in message
    assert "hibari:fable: hibari voice 'fable' is not downloaded" in message
    assert "piper:en_GB-nobody-low: piper voice en_GB-nobody-low is not installed" in message
    assert err.value.hint == "voicetrack voices install fable"


def test_unknown_role_or_locale(root: Path) -> None:
    with pytest.raises(
        VoiceError, match="unknown voice role 'narator' \\(did you mean 'narrator'\\?\\)"
    ):
        resolve_voice("narator", "en-GB", root)
    with pytest.raises(VoiceError, match="has no voice for fr-FR \\(it has en-GB, en-US\\)"):
        resolve_voice("narrator", "fr-FR", root)


def test_resolution_uses_given_profiles_without_reading_files(root: Path) -> None:
    profiles = {"solo": Profile("solo", "", "test", (("en-GB", (VoiceSpec("fake"),)),))}
    write(root, "broken.toml", "not toml at all [")
    assert resolve_voice("solo", "en-GB", root, profiles).spec == VoiceSpec("fake")


# --------------------------------------------------------------------------- describe


def test_describe_voices_reports_choices_fallbacks_and_licences(root: Path) -> None:
    rows = {(r.role, r.locale): r for r in describe_voices(root)}
    gb = rows["narrator", "en-GB"]
    assert gb.resolved == VoiceSpec("espeak-ng", model="en-gb-x-rp")
    assert gb.fallback and gb.hint == "voicetrack voices install emma"
    assert gb.builtin and gb.description == "Warm, unhurried narrator"
    assert [(c.spec.label, c.available, c.licence) for c in gb.choices] == [
        ("hibari:emma", False, "Apache-2.0"),
        ("espeak-ng:en-gb-x-rp", True, "GPL-3.0-or-later"),
    ]
    assert gb.choices[0].hint == "voicetrack voices install emma"
    assert "not downloaded" in (gb.choices[0].reason or "")

    us = rows["narrator", "en-US"]
    assert (us.resolved, us.fallback, us.hint) == (VoiceSpec("hibari", model="heart"), False, None)

    joe = rows["narrator-piper", "en-US"]
    assert joe.choices[0].available and joe.choices[0].licence == "CC0-1.0"


def test_describe_voices_with_nothing_available(root: Path) -> None:
    write(root, "lost.toml", '[en-GB]\nengine = "piper"\nmodel = "en_GB-nobody-low"\n')
    [row] = [r for r in describe_voices(root) if r.role == "lost"]
    assert row.resolved is None and not row.fallback
    assert row.hint == "voicetrack voices install en_GB-nobody-low"
    assert row.choices[0].licence == "unknown (voice not installed)"


def test_describe_voices_shows_a_misnamed_model_as_unavailable(root: Path) -> None:
    write(root, "typo.toml", '[en-US]\nengine = "hibari"\nmodel = "haert"\n')
    [row] = [r for r in describe_voices(root) if r.role == "typo"]
    assert row.resolved is None
    assert row.choices[0].reason is not None
    assert row.choices[0].reason.startswith("hibari has no voice 'haert'")
    with pytest.raises(VoiceError, match="hibari has no voice 'haert'"):
        resolve_voice("typo", "en-US", root)  # a build stops rather than falling back


def test_a_locale_may_appear_once(root: Path) -> None:
    write(root, "twice.toml", '[en-GB]\nengine = "fake"\n\n[en-gb]\nengine = "fake"\n')
    assert errors_of(root) == ["voices/twice.toml:4:1: [en-gb] repeats the table for en-GB"]
