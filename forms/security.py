"""Passwords and one-time codes: hashing, checking and generating them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from werkzeug.security import check_password_hash, generate_password_hash

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "OTP_DIGITS",
    "PASSWORD_SYMBOLS",
    "check_password",
    "generate_otp",
    "generate_password",
    "hash_otp",
    "hash_password",
    "new_salt",
    "otp_matches",
]

# The citizen types the password from an SMS on a phone: no characters that look alike in a small font.
_AMBIGUOUS = frozenset("0Oo1lI")
PASSWORD_SYMBOLS = "@#$%&*!?"
_LOWER = "".join(c for c in string.ascii_lowercase if c not in _AMBIGUOUS)
_UPPER = "".join(c for c in string.ascii_uppercase if c not in _AMBIGUOUS)
_DIGITS = "".join(c for c in string.digits if c not in _AMBIGUOUS)
_CLASSES = (_LOWER, _UPPER, _DIGITS, PASSWORD_SYMBOLS)
_ALPHABET = "".join(_CLASSES)
MIN_PASSWORD_LENGTH = 8
OTP_DIGITS = 6


def hash_password(password: str) -> str:
    """A salted scrypt hash of the password, in werkzeug's self-describing format."""
    return generate_password_hash(password, method="scrypt")


def check_password(stored: str, password: str) -> bool:
    """Whether the password matches a hash made by `hash_password`; a damaged or unknown hash matches nothing."""
    try:
        return check_password_hash(stored, password)
    except ValueError:
        # werkzeug raises on a malformed or unsupported hash; for a login that is simply a wrong password.
        return False


def generate_password(length: int = 12) -> str:
    """A random password with a lower- and an upper-case letter, a digit and a symbol, none easily misread."""
    if length < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password length must be at least {MIN_PASSWORD_LENGTH}")
    while True:
        # Drawing whole passwords until one has every class keeps every valid password equally likely, unlike
        # forcing one character per class into fixed slots; about half the draws pass at length 12.
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if all(any(c in chars for c in password) for chars in _CLASSES):
            return password


def generate_otp() -> str:
    """A 6-digit one-time code, leading zeros kept (e.g. "004217")."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def new_salt() -> str:
    """A fresh random salt for one OTP challenge."""
    return secrets.token_hex(16)


def hash_otp(code: str, *, key: bytes, salt: str) -> str:
    """HMAC-SHA256 (hex) of an OTP code, keyed by the application's secret key, with the challenge's salt."""
    # There are only a million 6-digit codes: a plain or merely salted hash is reversed offline in about a second by
    # anyone who reads the database. Keying it with the secret key, which lives outside the database, prevents that;
    # the per-challenge salt keeps two challenges with the same code from having the same hash.
    if not key:
        raise ValueError("hash_otp needs the application's secret key")
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def otp_matches(stored_hash: str, code: str, *, key: bytes, salt: str) -> bool:
    """Whether a typed code matches the stored hash; surrounding spaces are ignored, the comparison is constant-time."""
    return hmac.compare_digest(stored_hash, hash_otp(code.strip(), key=key, salt=salt))
