"""Configuration of the corpus pipeline: defaults, and loading a TOML file over them.

Every threshold the pipeline applies lives in :data:`DEFAULTS`, so one file documents
them all. A user's config file (TOML, read with the standard library's ``tomllib``)
overrides any subset; unknown sections or keys are an error, so a typo cannot silently
leave a default in force. See docs/data.md for what each value means.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import tomllib

DEFAULTS: dict[str, Any] = {
    "reader": {
        # "paragraph": lines up to a blank line are one document (hard-wrapped lines are
        # joined, without a space between CJK characters); "line": each non-blank line of
        # a plain-text file is a document; "file": the whole file is one document.
        "text_unit": "paragraph",
        # Bounds that keep memory flat on hostile input; longer lines / documents become
        # counted bad records ("line too long", "document too long").
        "max_line_bytes": 1 << 20,
        "max_document_bytes": 8 << 20,
        # Field holding the text in JSON Lines records; dots reach nested objects.
        "jsonl_field": "text",
    },
    "normalize": {
        # Traditional -> simplified through OpenCC (opencc-python-reimplemented).
        "t2s": False,
    },
    "filters": {
        "min_chars": 10,  # documents shorter than this (after normalisation) go
        "max_chars": 100_000,  # and longer than this
        "min_cjk_ratio": 0.3,  # share of non-space characters that are CJK ideographs
        # Gopher repetition rules, over tokens (one token per CJK character, one per
        # run of Latin letters/digits). Gopher counts English words; a Chinese word is
        # about two characters and names recur in news, so n is doubled and the shares
        # loosened (measured on People's Daily 1998: ~0.5% of paragraphs go, spam goes).
        "max_dup_line_frac": 0.3,  # share of lines that repeat an earlier line
        "max_dup_line_char_frac": 0.2,  # share of characters in such repeated lines
        # most frequent n-gram may cover at most this share of characters
        "top_ngram_char_frac": {"4": 0.25, "6": 0.22, "8": 0.20},
        # characters inside n-grams that occur more than once
        "dup_ngram_char_frac": {
            "10": 0.20, "12": 0.19, "14": 0.18, "16": 0.17, "18": 0.16, "20": 0.15,
        },
        # n-gram rules only judge documents with at least this many tokens, because
        # a short review can repeat a phrase by chance
        "ngram_min_tokens": 50,
        "max_symbol_ratio": 0.10,  # Unicode symbol characters (categories S*)
        "max_digit_ratio": 0.30,  # decimal digits
        "blocklist": [],  # keywords; a document containing any of them goes
        "blocklist_file": "",  # one keyword a line, added to the list above
    },
    "pii": {
        "enabled": True,
        "placeholders": {
            "email": "<EMAIL>",
            "ip": "<IP>",
            "id_card": "<ID_CARD>",
            "bank_card": "<BANK_CARD>",
            "phone": "<PHONE>",
        },
    },
    "dedup": {
        "exact": True,
        "near": True,
        "threshold": 0.8,  # estimated Jaccard similarity of character n-gram sets
        "ngram": 5,  # characters per shingle
        "num_perm": 128,  # MinHash permutations
        "seed": 1,
    },
    "tokenizer": {
        "kind": "bpe",  # "bpe" (byte-level BPE, tokenizer.json) or "char" (vocab.json)
        "vocab_size": 8000,
        "min_frequency": 2,
    },
    "shards": {
        "val_fraction": 0.05,  # share of documents (by hash) put in the validation split
        "shard_tokens": 10_000_000,  # tokens per shard file at most
    },
    "build": {
        "workers": 0,  # processes; 0 means one per core
        "batch_docs": 256,  # documents handed to a worker at a time
        "max_bad_listed": 1000,  # bad records listed by name in the manifest (all counted)
    },
    # Licence declared for each source: glob pattern (fnmatch over the source path) ->
    # licence name (SPDX id where there is one). First match wins.
    "licences": {},
    "default_licence": "undeclared",
}


class ConfigError(ValueError):
    """A config file that cannot be read, or holds an unknown key or a bad value."""


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> None:
    for key, value in over.items():
        if key not in base:
            raise ConfigError(
                f"unknown config key '{where}{key}'; known keys here: {sorted(base)}"
            )
        # licences and n-gram tables are free-form maps: replace them whole
        free_form = key in ("licences", "top_ngram_char_frac", "dup_ngram_char_frac",
                            "placeholders")
        if isinstance(base[key], dict) and not free_form:
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{where}{key}' must be a table")
            _merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = value


def default_config() -> dict[str, Any]:
    """Return a fresh deep copy of :data:`DEFAULTS` that the caller may change."""
    return copy.deepcopy(DEFAULTS)


def load_config(path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the defaults overlaid with the TOML file at ``path`` and then ``overrides``.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or names an unknown key.
    """
    cfg = default_config()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
        _merge(cfg, data, "")
    if overrides:
        _merge(cfg, overrides, "")
    f = cfg["filters"]
    if f["blocklist_file"]:
        bl = Path(f["blocklist_file"])
        if path is not None and not bl.is_absolute():
            bl = Path(path).parent / bl  # relative to the config file, as users expect
        try:
            words = bl.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"blocklist file {bl} cannot be read: {exc}") from None
        f["blocklist"] = list(f["blocklist"]) + [w.strip() for w in words if w.strip()]
    if cfg["tokenizer"]["kind"] not in ("bpe", "char"):
        raise ConfigError("tokenizer.kind must be 'bpe' or 'char'")
    if cfg["reader"]["text_unit"] not in ("paragraph", "line", "file"):
        raise ConfigError("reader.text_unit must be 'paragraph', 'line' or 'file'")
    for key in ("max_line_bytes", "max_document_bytes"):
        value = cfg["reader"][key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"reader.{key} must be a positive integer, got {value!r}")
    if not 0.0 <= cfg["shards"]["val_fraction"] < 1.0:
        raise ConfigError("shards.val_fraction must be in [0, 1)")
    return cfg
