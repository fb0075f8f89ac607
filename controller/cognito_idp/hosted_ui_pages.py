"""The hosted UI's HTML pages (the login form, a challenge's form and the error page), as Jinja2 templates with autoescape
on: every value a request can influence (the message, the client's name, the query the form posts back,
the username) is escaped. Kept in code rather than template files so the package needs no data files to serve them.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 24rem; margin: 3rem auto; padding: 0 1rem; }
label, input, button { display: block; width: 100%; box-sizing: border-box; }
input { margin: .25rem 0 1rem; padding: .5rem; font-size: 1rem; }
button { padding: .6rem; font-size: 1rem; }
.error { color: #a00000; border: 1px solid #a00000; padding: .5rem; margin-bottom: 1rem; }
</style>
</head>
<body>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

_LOGIN = """{% extends "base.html" %}
{% block title %}Sign in{% if client_name %} to {{ client_name }}{% endif %}{% endblock %}
{% block main %}
<h1>Sign in{% if client_name %} to {{ client_name }}{% endif %}</h1>
{% if message %}<p class="error" role="alert" id="login-error">{{ message }}</p>{% endif %}
<form method="post" action="login?{{ query }}">
<input type="hidden" name="_csrf" value="{{ csrf }}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus
       value="{{ username }}"{% if message %} aria-describedby="login-error"{% endif %}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{% endblock %}
"""

_CHALLENGE = """{% extends "base.html" %}
{% block title %}{{ heading }}{% endblock %}
{% block main %}
<h1>{{ heading }}</h1>
{% if message %}<p class="error" role="alert" id="challenge-error">{{ message }}</p>{% endif %}
<form method="post" action="login?{{ query }}">
<input type="hidden" name="_csrf" value="{{ csrf }}">
<input type="hidden" name="username" value="{{ username }}">
<input type="hidden" name="challenge" value="{{ challenge }}">
<input type="hidden" name="session" value="{{ session }}">
{% if challenge == "NEW_PASSWORD_REQUIRED" %}
<p>Your password is temporary: choose a new one to continue.</p>
<label for="new_password">New password</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" required autofocus
       {% if message %}aria-describedby="challenge-error"{% endif %}>
<label for="confirm_password">Enter the new password again</label>
<input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>
{% else %}
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6"
       autocomplete="one-time-code" required autofocus{% if message %} aria-describedby="challenge-error"{% endif %}>
<button type="submit">Sign in</button>
{% endif %}
</form>
{% endblock %}
"""

_ERROR = """{% extends "base.html" %}
{% block title %}Error{% endblock %}
{% block main %}
<h1>An error was encountered with the requested page.</h1>
<p role="alert">{{ message }}</p>
{% endblock %}
"""

_ENV = Environment(loader=DictLoader({"base.html": _BASE, "login.html": _LOGIN, "error.html": _ERROR,
                                                "challenge.html": _CHALLENGE}),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def login_page(*, query: str, csrf: str, client_name: str, username: str = "", message: str = "") -> str:
    """The login form; it posts the username and password to ``login?{query}`` (the authorize parameters)."""
    return _ENV.get_template("login.html").render(query=query, csrf=csrf, client_name=client_name,
                                                  username=username, message=message)


def challenge_page(*, query: str, csrf: str, username: str, challenge: str, session: str,
                   message: str = "") -> str:
    """The page of a challenge after the password: a new password (NEW_PASSWORD_REQUIRED) or a TOTP code
    (SOFTWARE_TOKEN_MFA); it posts the answer with the challenge's session back to ``login?{query}``."""
    heading = "Change password" if challenge == "NEW_PASSWORD_REQUIRED" else "Multi-factor authentication"
    return _ENV.get_template("challenge.html").render(query=query, csrf=csrf, username=username,
                                                      challenge=challenge, session=session, message=message,
                                                      heading=heading)


def error_page(message: str) -> str:
    return _ENV.get_template("error.html").render(message=message)
