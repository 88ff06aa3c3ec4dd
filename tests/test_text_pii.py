"""Personal data: each kind replaced when valid, left when its check digit fails;
check digits compared with independent implementations."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zili.text.pii import Scrubber, id_card_valid, luhn_valid


def ref_id_check(first17: str) -> str:
    # GB 11643-1999: weights are 2**(17-i) mod 11, check = (12 - sum mod 11) mod 11
    s = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    c = (12 - s % 11) % 11
    return "X" if c == 10 else str(c)


def ref_luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number][::-1]
    doubled = "".join(str(d * 2) for d in digits[1::2])
    return (sum(digits[0::2]) + sum(int(c) for c in doubled)) % 10 == 0


def with_luhn(prefix: str) -> str:
    for d in "0123456789":
        if ref_luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


VALID_ID = "11010519491231002X"  # the standard's own example
BAD_ID = "110105194912310021"  # same digits, wrong check character
VALID_CARD = with_luhn("622202123456789012")  # 19 digits
BAD_CARD = VALID_CARD[:-1] + str((int(VALID_CARD[-1]) + 1) % 10)


def test_fixtures_are_what_they_claim():
    assert ref_id_check(VALID_ID[:17]) == "X" and ref_id_check(BAD_ID[:17]) != "1"
    assert not ref_luhn_ok(BAD_ID)  # so the bad ID is not taken for a bank card either
    assert ref_luhn_ok(VALID_CARD) and not ref_luhn_ok(BAD_CARD)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_id_check_digit_matches_reference(first17):
    good = first17 + ref_id_check(first17)
    assert id_card_valid(good)
    assert id_card_valid(good.lower())
    for other in "0123456789X":
        if other != good[-1]:
            assert not id_card_valid(first17 + other)


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
def test_luhn_matches_reference(number):
    assert luhn_valid(number) == ref_luhn_ok(number)


@pytest.mark.parametrize("text, want, counts", [
    ("手机13812345678，请回电", "手机<PHONE>，请回电", {"phone": 1}),
    ("电话+86 13912345678。", "电话<PHONE>。", {"phone": 1}),
    ("号码12812345678不是手机", "号码12812345678不是手机", {}),  # 12x is no mobile prefix
    ("订单138123456789", "订单138123456789", {}),  # 12 digits: not a phone
    (f"身份证{VALID_ID}号", "身份证<ID_CARD>号", {"id_card": 1}),
    (f"身份证{VALID_ID.lower()}号", "身份证<ID_CARD>号", {"id_card": 1}),
    (f"身份证{BAD_ID}号", f"身份证{BAD_ID}号", {}),
    (f"卡号{VALID_CARD}。", "卡号<BANK_CARD>。", {"bank_card": 1}),
    (f"卡号{BAD_CARD}。", f"卡号{BAD_CARD}。", {}),
    ("卡号4111 1111 1111 1111。", "卡号<BANK_CARD>。", {"bank_card": 1}),
    ("卡号4111-1111-1111-1112。", "卡号4111-1111-1111-1112。", {}),
    ("邮箱zhang.san+tag@mail.example.com。", "邮箱<EMAIL>。", {"email": 1}),
    ("不是邮箱@这里", "不是邮箱@这里", {}),
    ("服务器192.168.1.10和10.0.0.1", "服务器<IP>和<IP>", {"ip": 2}),
    ("版本1.2.3.4567不是地址", "版本1.2.3.4567不是地址", {}),
    ("地址300.1.1.1无效", "地址300.1.1.1无效", {}),
    ("IPv6 2001:db8::1 与 fe80::1ff:fe23:4567:890a", "IPv6 <IP> 与 <IP>", {"ip": 2}),
    ("时间12:30:45不是地址", "时间12:30:45不是地址", {}),
])
def test_scrub(text, want, counts):
    out, got = Scrubber().scrub(text)
    assert out == want
    assert dict(got) == counts


def test_all_kinds_in_one_text_and_custom_placeholder():
    from zili.text.config import load_config

    cfg = load_config(overrides={"pii": {"placeholders": {"phone": "[电话]"}}})
    text = (f"张三，手机13812345678，身份证{VALID_ID}，卡{VALID_CARD}，"
            f"邮箱a@b.cn，IP 8.8.8.8；假身份证{BAD_ID}")
    out, counts = Scrubber(cfg).scrub(text)
    assert out == (f"张三，手机[电话]，身份证<ID_CARD>，卡<BANK_CARD>，邮箱<EMAIL>，IP <IP>；"
                   f"假身份证{BAD_ID}")
    assert dict(counts) == {"phone": 1, "id_card": 1, "bank_card": 1, "email": 1, "ip": 1}
