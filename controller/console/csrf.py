"""Cross-site request forgery checks and the headers every console answer carries.

Every POST must carry the session's token, as the ``_csrf`` form field or, for htmx's requests, the
``X-CSRF-Token`` header (the page puts it in ``hx-headers``); SameSite=Strict cookies are the second wall,
not the only one. The headers keep the pages out of frames, scripts to the console's own files (no inline
script: htmx is configured not to evaluate any), and URLs (instance ids) out of other sites' Referer.
"""

from __future__ import annotations

import hmac

from flask import Request, Response

FIELD = "_csrf"
HEADER = "X-CSRF-Token"

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def token_sent(request: Request) -> str:
    """The token a POST carries (form field first, then the htmx header); empty when it has none."""
    return request.form.get(FIELD) or request.headers.get(HEADER, "")


def matches(expected: str, sent: str) -> bool:
    """Whether ``sent`` is the expected token (compared in constant time; an empty one never matches)."""
    return bool(expected) and bool(sent) and hmac.compare_digest(expected.encode(), sent.encode())


def secure(response: Response) -> Response:
    """``response`` with the console's security headers (static files keep their own caching)."""
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and response.headers.get("Cache-Control"):
            continue
        response.headers.setdefault(name, value)
    return response
