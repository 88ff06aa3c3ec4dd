"""Config loading: defaults, TOML overrides, unknown keys and bad values refused."""

import pytest

from zili.text.config import DEFAULTS, ConfigError, load_config


def test_defaults_are_copied_not_shared():
    cfg = load_config()
    cfg["filters"]["min_chars"] = 999
    assert DEFAULTS["filters"]["min_chars"] == 10
    assert load_config()["filters"]["min_chars"] == 10


def test_toml_overrides_only_what_it_names(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[filters]\nmin_chars = 3\nblocklist = ["坏词"]\n'
                 '[dedup]\nthreshold = 0.5\n[licences]\n"*.txt" = "CC-BY-4.0"\n',
                 encoding="utf-8")
    cfg = load_config(p)
    assert cfg["filters"]["min_chars"] == 3
    assert cfg["filters"]["max_chars"] == 100_000
    assert cfg["filters"]["blocklist"] == ["坏词"]
    assert cfg["dedup"]["threshold"] == 0.5
    assert cfg["licences"] == {"*.txt": "CC-BY-4.0"}


def test_blocklist_file_is_relative_to_config(tmp_path):
    (tmp_path / "words.txt").write_text("甲\n\n乙 \n", encoding="utf-8")
    p = tmp_path / "c.toml"
    p.write_text('[filters]\nblocklist = ["丙"]\nblocklist_file = "words.txt"\n',
                 encoding="utf-8")
    assert load_config(p)["filters"]["blocklist"] == ["丙", "甲", "乙"]


@pytest.mark.parametrize("text, match", [
    ("[filter]\nmin_chars = 3\n", "unknown config key 'filter'"),
    ("[filters]\nmin_char = 3\n", "unknown config key 'filters.min_char'"),
    ("[filters\n", "not valid TOML"),
    ('[tokenizer]\nkind = "wordpiece"\n', "tokenizer.kind"),
    ("[filters]\n", None),
])
def test_bad_config_is_refused(tmp_path, text, match):
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    if match is None:
        assert load_config(p)["filters"]["min_chars"] == 10
    else:
        with pytest.raises(ConfigError, match=match):
            load_config(p)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
