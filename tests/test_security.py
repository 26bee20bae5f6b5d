"""Passwords and one-time codes: policy, hashing and checking."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest

from forms.security import (
    PASSWORD_SYMBOLS,
    check_password,
    generate_otp,
    generate_password,
    hash_otp,
    hash_password,
    new_salt,
    otp_matches,
)

KEY = b"the application's secret key"


def test_generated_passwords_keep_the_policy_over_many_draws() -> None:
    seen = set()
    for _ in range(2000):
        password = generate_password()
        assert len(password) == 12
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in PASSWORD_SYMBOLS for c in password)
        assert not set(password) & set("0Oo1lI")
        assert set(password) <= set(string.ascii_letters + string.digits + PASSWORD_SYMBOLS)
        seen.add(password)
    assert len(seen) == 2000


def test_password_length_is_honoured_and_short_ones_refused() -> None:
    assert len(generate_password(20)) == 20
    assert len(generate_password(8)) == 8
    with pytest.raises(ValueError):
        generate_password(4)


def test_check_password_accepts_the_password_and_nothing_else() -> None:
    stored = hash_password("Mật khẩu@2024")
    assert check_password(stored, "Mật khẩu@2024")
    assert not check_password(stored, "Mật khẩu@2025")
    assert not check_password(stored, "")
    assert not check_password("not a hash", "Mật khẩu@2024")
    assert not check_password("", "Mật khẩu@2024")


def test_password_hash_is_salted_and_never_contains_the_password() -> None:
    password = generate_password()
    first, second = hash_password(password), hash_password(password)
    assert password not in first
    assert first.startswith("scrypt:")
    assert first != second
    assert check_password(first, password)
    assert check_password(second, password)


def test_otp_is_six_digits_with_leading_zeros_and_every_digit_drawn() -> None:
    codes = [generate_otp() for _ in range(5000)]
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    assert any(code.startswith("0") for code in codes)  # one in ten does: missing it 5000 times is impossible
    digits = Counter("".join(codes))
    assert set(digits) == set(string.digits)
    # 30,000 digits, 3,000 expected each; a fair source stays within a few percent.
    assert all(2600 < n < 3400 for n in digits.values())
    assert len(set(codes)) > 4900


def test_otp_hash_depends_on_code_salt_and_key() -> None:
    salt = new_salt()
    assert re.fullmatch(r"[0-9a-f]{32}", salt)
    assert new_salt() != salt
    stored = hash_otp("012345", key=KEY, salt=salt)
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert "012345" not in stored
    assert hash_otp("012345", key=KEY, salt=salt) == stored
    assert hash_otp("012346", key=KEY, salt=salt) != stored
    assert hash_otp("012345", key=KEY, salt=new_salt()) != stored
    assert hash_otp("012345", key=b"another key", salt=salt) != stored
    with pytest.raises(ValueError):
        hash_otp("012345", key=b"", salt=salt)


def test_otp_matches_only_the_right_code_salt_and_key() -> None:
    code, salt = generate_otp(), new_salt()
    stored = hash_otp(code, key=KEY, salt=salt)
    assert otp_matches(stored, code, key=KEY, salt=salt)
    assert otp_matches(stored, f" {code}\n", key=KEY, salt=salt)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert not otp_matches(stored, wrong, key=KEY, salt=salt)
    assert not otp_matches(stored, code, key=b"another key", salt=salt)
    assert not otp_matches(stored, code, key=KEY, salt=new_salt())
    assert not otp_matches(stored, "", key=KEY, salt=salt)
