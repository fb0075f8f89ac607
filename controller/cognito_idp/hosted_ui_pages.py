"""The hosted UI's two HTML pages (the login form and the error page), as Jinja2 templates with autoescape
on: every value a request can influence (the message, the client's name, the query the form posts back) is
escaped. Kept in code rather than template files so the package needs no data files to serve them.
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

_ERROR = """{% extends "base.html" %}
{% block title %}Error{% endblock %}
{% block main %}
<h1>An error was encountered with the requested page.</h1>
<p role="alert">{{ message }}</p>
{% endblock %}
"""

_ENV = Environment(loader=DictLoader({"base.html": _BASE, "login.html": _LOGIN, "error.html": _ERROR}),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def login_page(*, query: str, csrf: str, client_name: str, username: str = "", message: str = "") -> str:
    """The login form; it posts the username and password to ``login?{query}`` (the authorize parameters)."""
    return _ENV.get_template("login.html").render(query=query, csrf=csrf, client_name=client_name,
                                                  username=username, message=message)


def error_page(message: str) -> str:
    return _ENV.get_template("error.html").render(message=message)
