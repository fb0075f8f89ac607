"""AWS rule conditions, matchers and redirects in HAProxy's terms (pure).

Every user-supplied string reaches the configuration as a regular expression or a log-format string
built only from ``[A-Za-z0-9/_-]`` and escapes (``\\xHH`` in regexes, ``%%XX`` percent-encoding in
log-format strings), always inside single quotes (HAProxy's strong quoting: no ``$VAR`` expansion, no
backslash processing). So no value can break out of its argument, whatever the controller sends.
"""

from __future__ import annotations

import re

from agent.contract.loadbalancers import Action, Condition

_REGEX_SAFE = re.compile(r"[A-Za-z0-9/_-]")
_URL_SAFE = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@!&()*+,;=]")


def regex_literal(text: str) -> str:
    """``text`` matched literally: safe characters as they are, every other byte as ``\\xHH``."""
    out = []
    for char in text:
        if _REGEX_SAFE.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out)


def wildcard_regex(pattern: str, star: str = ".*", one: str = ".") -> str:
    """An AWS wildcard pattern (``*`` any run of characters, ``?`` exactly one) as an anchored regex body."""
    return "".join(star if char == "*" else one if char == "?" else regex_literal(char) for char in pattern)


def anchored(*alternatives: str) -> str:
    return "'^(" + "|".join(alternatives) + ")$'"


def condition_acls(name: str, condition: Condition) -> list[str]:
    """``acl`` lines named ``name`` for one condition; several lines of one name are ORed by HAProxy."""
    field = condition.field
    if field == "path-pattern":  # the path only (no query string), case-sensitive
        return [f"acl {name} path -m reg {anchored(*map(wildcard_regex, condition.values))}"]
    if field == "host-header":  # without the port, case-insensitive
        return [f"acl {name} req.hdr(host),field(1,:) -m reg -i {anchored(*map(wildcard_regex, condition.values))}"]
    if field == "http-header":  # any occurrence, whole line, case-insensitive
        return [f"acl {name} req.fhdr({condition.header_name}) -m reg -i "
                f"{anchored(*map(wildcard_regex, condition.values))}"]
    if field == "http-request-method":
        return [f"acl {name} method {' '.join(condition.values)}"]
    if field == "source-ip":
        return [f"acl {name} src {' '.join(condition.values)}"]
    if field == "query-string":
        pairs = []
        for pair in condition.query:
            key = wildcard_regex(pair.key, "[^&=]*", "[^&=]") if pair.key is not None else "[^&=]*"
            pairs.append(f"{key}={wildcard_regex(pair.value, '[^&]*', '[^&]')}")
        return [f"acl {name} query -m reg -i '(^|&)({'|'.join(pairs)})(&|$)'"]
    raise ValueError(f"unknown condition field {field!r}")


def status_regex(matcher: str) -> str:
    """A health check matcher ("200", "200,202", "200-299") as an anchored regex over 3-digit codes."""
    codes: set[int] = set()
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    alternatives = []
    for hundred in range(1, 6):
        if all(hundred * 100 + n in codes for n in range(100)):
            alternatives.append(f"{hundred}[0-9][0-9]")
            continue
        for ten in range(10):
            base = hundred * 100 + ten * 10
            present = [base + n for n in range(10) if base + n in codes]
            if len(present) == 10:
                alternatives.append(f"{base // 10}[0-9]")
            else:
                alternatives.extend(str(code) for code in present)
    return anchored(*alternatives)


def log_format_literal(text: str) -> str:
    """``text`` as literal log-format content: URL-safe characters kept, ``%`` doubled, the rest
    percent-encoded (as a browser would send them anyway)."""
    out = []
    for char in text:
        if _URL_SAFE.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"%%{byte:02X}" for byte in char.encode())
    return "".join(out)


def _template(text: str, values: dict[str, str]) -> str:
    """An AWS redirect component: ``#{name}`` placeholders resolved, literal parts escaped."""
    parts = re.split(r"(#\{(?:host|path|port|protocol|query)\})", text)
    return "".join(values[part[2:-1]] if part.startswith("#{") else log_format_literal(part) for part in parts)


def redirect_lines(action: Action, listener_protocol: str, listener_port: int, terms: str) -> list[str]:
    """``http-request redirect`` lines for one redirect action taken ``if terms`` (AWS's placeholders resolved
    per request)."""
    scheme = listener_protocol.lower()
    values = {"host": "%[req.hdr(host),field(1,:)]", "path": "%[path,bytes(1)]", "port": str(listener_port),
              "protocol": scheme, "query": "%[query]"}
    protocol = _template(action.protocol, values).lower()
    port = _template(action.port, values)
    default_port = {"http": "80", "https": "443"}.get(protocol)
    location = f"{protocol}://{_template(action.host, values)}"
    location += "" if port == default_port else f":{port}"
    path = _template(action.path or "/", values)
    location += path if path.startswith("/") else "/" + path
    code = "301" if action.status_code == "HTTP_301" else "302"
    if action.query == "#{query}":  # the original query, and no lone '?' when there is none
        return [f"http-request redirect location '{location}?%[query]' code {code} if {terms} "
                "{ query -m len gt 0 }",
                f"http-request redirect location '{location}' code {code} if {terms}"]
    query = _template(action.query, values)
    location += f"?{query}" if query else ""
    return [f"http-request redirect location '{location}' code {code} if {terms}"]
