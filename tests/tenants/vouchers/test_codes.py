"""Voucher codes: readable, from an alphabet without look-alikes, typed back any way."""

from __future__ import annotations

import re

import pytest

from tenants.vouchers.codes import ALPHABET
from tenants.vouchers.codes import format_code
from tenants.vouchers.codes import new_voucher_code
from tenants.vouchers.codes import normalise_code


def test_codes_are_ten_symbols_without_look_alikes():
    assert not set("01OILUV") & set(ALPHABET)
    codes = {new_voucher_code() for _ in range(2000)}
    assert len(codes) == 2000  # 2000 draws from ~4e14: a repeat means a broken generator
    assert all(re.fullmatch(f"[{ALPHABET}]{{10}}", c) for c in codes)
    # every symbol is used (a broken choice() would show as a short alphabet)
    assert set("".join(codes)) == set(ALPHABET)


def test_format_for_reading_aloud():
    assert format_code("ABCDEFGHJK") == "ABCD-EFGH-JK"


@pytest.mark.parametrize(
    "typed", ["ABCD-EFGH-JK", "abcd efgh jk", "abcdefghjk", " AbCd-EfGh-Jk ", "ABCD_EFGH.JK"]
)
def test_normalise_accepts_case_dashes_and_spaces(typed):
    assert normalise_code(typed) == "ABCDEFGHJK"


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFGH-J", "ABCD-EFGH-JKM", "ABCD-EFGH-J0", "ABCDEFGHJI"]
)
def test_normalise_refuses_what_cannot_be_a_code(typed):
    assert normalise_code(typed) is None
