"""Normalisation: exact outputs for each rule."""

import pytest

from zili.text.normalize import normalize


@pytest.mark.parametrize("raw, want", [
    ("ＡＢＣ１２３", "ABC123"),  # full-width letters and digits to half-width
    ("你好，世界？", "你好，世界？"),  # Chinese punctuation stays full-width (not NFKC's ASCII)
    ("中文。《书名》、“引号”", "中文。《书名》、“引号”"),  # CJK punctuation stays
    ("ｶﾀｶﾅ", "カタカナ"),  # half-width katakana to full-width (NFKC)
    ("零\u200b宽\u200d字\ufeff符\u00ad", "零宽字符"),  # zero-width and format characters
    ("响\x07铃\x1b控\x7f制", "响铃控制"),  # control characters
    ("  前后  空白\t\t制表\u3000全角空格  ", "前后 空白 制表 全角空格"),
    ("行一  \r\n行二\r行三", "行一\n行二\n行三"),
    ("段一\n\n\n\n\n段二", "段一\n\n段二"),
    ("\n\n  \n", ""),
])
def test_normalize(raw, want):
    assert normalize(raw) == want


def test_normalize_is_idempotent():
    s = "ＡＢ，\u200b你好\u3000世界\r\n\n\n\n再见"
    assert normalize(normalize(s)) == normalize(s)


def test_traditional_to_simplified():
    assert normalize("這是一個繁體中文的測試，會不會轉換。", t2s=True) == \
        "这是一个繁体中文的测试，会不会转换。"
    assert normalize("這是", t2s=False) == "這是"
