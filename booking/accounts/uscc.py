"""统一社会信用代码 (GB 32100-2015), checked with python-stdnum.

Some real codes fail the check character: self-registration refuses them,
a platform admin may accept one with a recorded reason.
"""

from __future__ import annotations

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


class UsccProblem:
    """Why a code is not valid, as a short machine key."""

    FORMAT = "format"  # wrong length or characters
    CHECK = "check"  # well-formed, but the check character is wrong


def normalise(code: str) -> str:
    return "".join(code.split()).upper()


def problem(code: str) -> str | None:
    """None when valid; UsccProblem.FORMAT or .CHECK otherwise."""
    code = normalise(code)
    if len(code) != 18 or any(c not in ALPHABET for c in code) or not code[2:8].isdigit():
        return UsccProblem.FORMAT
    try:
        _uscc.validate(code)
    except ValidationError:
        return UsccProblem.CHECK
    return None


def is_valid(code: str) -> bool:
    return problem(code) is None


def make(division_code: str, serial: int, registration: str = "91") -> str:
    """A valid code for demo data and tests: registration authority and type
    (91 = enterprise registered with market regulation), a 6-digit division,
    a 9-character organisation code from `serial`, and its check character."""
    body = f"{registration}{division_code}{serial:09d}"
    # The organisation code (positions 9-17) has its own check character in
    # GB 11714; python-stdnum validates only the USCC check, which we add here.
    return body + _uscc.calc_check_digit(body)
