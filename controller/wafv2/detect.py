"""SQL injection and cross-site scripting detection for SqliMatchStatement and XssMatchStatement (pure).

Both go to libinjection (through ``libinjection-python``), the tokenizer-and-fingerprint detector that
ModSecurity's core rule set and many WAFs use, rather than to home-made patterns: it knows the SQL dialects'
lexical corners (quoting, comments, MySQL's ``/*!`` forms) that a regular expression gets wrong, with few
false positives on everyday text. AWS's SensitivityLevel HIGH additionally flags a value that becomes an
injection once it lands inside a quoted string (``1' OR '1'='1`` typed into ``'...'``); LOW checks the value
as it stands.
"""

from __future__ import annotations

import libinjection


def is_sql_injection(value: str, sensitivity: str = "LOW") -> bool:
    """Whether ``value`` (already through the rule's text transformations) carries SQL injection."""
    if not value:
        return False
    if libinjection.is_sql_injection(value)["is_sqli"]:
        return True
    return sensitivity == "HIGH" and any(
        libinjection.is_sql_injection(quote + value)["is_sqli"] for quote in ("'", '"'))


def is_xss(value: str) -> bool:
    """Whether ``value`` carries script for a browser (a tag or attribute that runs it)."""
    return bool(value) and bool(libinjection.is_xss(value)["is_xss"])
