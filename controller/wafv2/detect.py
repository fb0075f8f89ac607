"""SQL injection and cross-site scripting detection for SqliMatchStatement and XssMatchStatement (pure).

AWS-like heuristics, not libinjection (which is not installed here): the input is tokenized the way a SQL
lexer would (strings, numbers, keywords, logical operators, comparison operators, comments, functions) three
times, as it stands and as if it continued a single- or a double-quoted string (the context a query string
value usually lands in), and each token stream's fingerprint is checked against the shapes injections take:
a string or number closed and followed by a logical operator and a comparison (``1' OR '1'='1``, ``1 OR 1=1``),
a logical operator followed by a comment or a delay function, a string closed and commented out
(``admin'--``), ``UNION [ALL] SELECT``, a sub-select, or a stacked statement (``; DROP``). HIGH sensitivity
also flags a logical operator after a closed string or number with nothing to compare. Cross-site scripting is
an HTML tag that runs script (``<script``, ``<iframe``...), any tag with an ``on*=`` event handler, or a
``javascript:``/``vbscript:`` URL or CSS ``expression(`` in an attribute.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<inline>/\*.*?\*/)
  | (?P<comment>--|\#|/\*)
  | (?P<squote>'(?:[^'\\]|\\.|'')*'?)
  | (?P<dquote>"(?:[^"\\]|\\.|"")*"?)
  | (?P<backtick>`[^`]*`?)
  | (?P<number>0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<variable>@@?\w+)
  | (?P<word>[a-z_$][\w$]*)
  | (?P<logic>\|\||&&)
  | (?P<op><=>|<>|!=|<=|>=|[=<>!+\-*/%^|&~])
  | (?P<punct>[(),;.])
  | (?P<other>.)
""", re.S | re.I | re.X)

_LOGIC = {"or", "and", "xor", "not", "div"}
_OPERATOR_WORDS = {"like", "rlike", "regexp", "is", "in", "between", "sounds", "mod", "glob", "collate"}
_KEYWORDS = {"select", "insert", "update", "delete", "drop", "from", "where", "having", "exec", "execute",
             "shutdown", "create", "alter", "truncate", "declare", "waitfor", "delay", "union", "all",
             "distinct", "order", "group", "by", "limit", "into", "outfile", "dumpfile", "values", "table",
             "null", "true", "false", "case", "when", "then", "else", "end", "procedure", "load_file", "grant"}
_STATEMENTS = {"select", "insert", "update", "delete", "drop", "exec", "execute", "shutdown", "create",
               "alter", "truncate", "declare", "waitfor", "grant"}
_DANGEROUS_FUNCTIONS = {"sleep", "benchmark", "pg_sleep", "load_file", "extractvalue", "updatexml", "char",
                        "chr", "concat", "version", "database", "user", "current_user", "system_user",
                        "ascii", "substring", "substr", "mid", "if", "ord", "hex", "unhex", "md5", "count",
                        "dbms_pipe", "utl_inaddr", "xp_cmdshell", "convert", "cast", "group_concat", "exp"}

# Fingerprint letters: s string, n number (or a closed value), v variable, k keyword, K statement keyword,
# U union, & logic, o operator, c comment, f function, b bareword, ( ) , ; punctuation.
_FLAGGED = [
    re.compile(r"^[sn)]+&[(]*[snbvk]o"),          # 1' OR '1'='1 ; 1 OR 1=1 ; ') or (a=a
    re.compile(r"^[sn)]+&[(]*[snbk]?c"),          # ' OR 1-- ; ' or true#
    re.compile(r"^[sn)]+[&o]F"),                  # 1 AND sleep(5) ; 1-benchmark(...)
    re.compile(r"^[sn)]+&[(]*[snbvk]$"),          # ' OR 'x ; ' or true (closing quote left to the query)
    re.compile(r"^s[)]*c"),                       # admin'-- ; admin')#
    re.compile(r"^s[)]*;"),                       # x'; anything
    re.compile(r"U(k)?K"),                        # UNION [ALL] SELECT
    re.compile(r"\(K"),                           # (SELECT ...)
    re.compile(r";[(]*K"),                        # ; DROP TABLE
    re.compile(r"^[sn)]+[&;]?K"),                 # ' waitfor delay ; 1 select
]
_FLAGGED_HIGH = [re.compile(r"^[sn)]+&"), re.compile(r"^[sn]o[sn]c")]


def _fingerprint(value: str) -> str:
    letters: list[str] = []
    tokens = [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(value)]
    tokens = [(kind, token) for kind, token in tokens if kind not in ("space", "inline")]
    for index, (kind, token) in enumerate(tokens):
        lower = token.lower()
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind in ("squote", "dquote", "backtick"):
            letters.append("s")
        elif kind == "number":
            letters.append("n")
        elif kind == "variable":
            letters.append("v")
        elif kind == "comment":
            letters.append("c")
            break
        elif kind == "logic":
            letters.append("&")
        elif kind == "op":
            letters.append("o")
        elif kind == "punct":
            letters.append(token)
        elif kind == "word":
            if lower in _LOGIC:
                letters.append("&")
            elif lower in _OPERATOR_WORDS:
                letters.append("o")
            elif lower == "union":
                letters.append("U")
            elif following == "(" and lower in _DANGEROUS_FUNCTIONS:
                letters.append("F")
            elif lower in _STATEMENTS:
                letters.append("K")
            elif lower in _KEYWORDS:
                letters.append("k")
            elif following == "(":
                letters.append("f")
            else:
                letters.append("b")
        else:
            letters.append("b")
        if len(letters) >= 8:
            break
    return "".join(letters)


def fingerprints(value: str) -> list[str]:
    """The fingerprints of ``value`` as it stands and as the rest of a single- and a double-quoted string."""
    return [_fingerprint(value), _fingerprint("'" + value), _fingerprint('"' + value)]


def is_sql_injection(value: str, sensitivity: str = "LOW") -> bool:
    rules = _FLAGGED + (_FLAGGED_HIGH if sensitivity == "HIGH" else [])
    if not value or not any(ch in value for ch in "'\"`;-#/()=<>|&") and " " not in value:
        return False
    return any(_flagged(piece, rules) for piece in _pieces(value))


def _pieces(value: str) -> list[str]:
    """The value, and each argument value when it reads like a query string or a form (``a=1&b=2``)."""
    pieces = [value]
    if "=" in value:
        pieces += [part.partition("=")[2] for part in value.split("&") if "=" in part]
    return pieces


def _flagged(value: str, rules: list[re.Pattern[str]]) -> bool:
    found = fingerprints(value)
    # The string contexts only count when the value really breaks out of a string (its first token closes).
    checked = [found[0]] + [fp for fp, quote in zip(found[1:], "'\"", strict=True) if quote in value]
    return any(rule.search(fp) for fp in checked for rule in rules)


_SCRIPT_TAGS = re.compile(
    r"<\s*/?\s*(script|iframe|frame|frameset|object|embed|applet|meta|base|link|style|svg|math|form|isindex|"
    r"xml|import|template|portal)\b", re.I)
_EVENT_HANDLER = re.compile(r"<[a-z!/?][^>]*?[\s/\"'`]on[a-z]{3,}\s*=", re.I | re.S)
_SCRIPT_URL = re.compile(r"(java|vb|live)script\s*:|data\s*:\s*text/html|expression\s*\(|-moz-binding", re.I)
_ATTRIBUTE_CONTEXT = re.compile(r"(=|<|url\s*\()", re.I)


def is_xss(value: str) -> bool:
    """Whether ``value`` carries script an HTML page would run if it were echoed into it."""
    if "<" in value and (_SCRIPT_TAGS.search(value) or _EVENT_HANDLER.search(value)):
        return True
    compact = re.sub(r"[\x00-\x20]", "", value)
    return bool(_SCRIPT_URL.search(compact) and _ATTRIBUTE_CONTEXT.search(value)) or bool(
        re.search(r"[\"'`]\s*on[a-z]{3,}\s*=", value, re.I))
