"""Cloudlet's web console, served by the controller at ``/console`` (issue 19).

A Flask blueprint of server-rendered pages (Jinja2 templates, htmx vendored at build time for the
instances list's polling; nothing is fetched from the Internet at run time). It holds no privilege of
its own: a user signs in (:mod:`controller.iam.console_signin`) and gets temporary credentials, and every
page reads and acts through the API as that principal (:mod:`controller.console.calls`).

- ``app.py``: the blueprint, sessions and CSRF on every request, sign-in and sign-out;
- ``state.py`` and ``sessions.py``: server-side sessions in the state database, cookies, the principal;
- ``csrf.py``: the CSRF token check and the security headers;
- ``calls.py``: API calls as the principal, and the policy engine's opinion for disabling buttons;
- ``pages.py``: the overview and the EC2 instance pages; ``pages.blueprint`` is the whole console;
- ``pages_s3.py``, ``pages_iam.py``, ``pages_trail.py``: S3 (objects through presigned URLs), IAM (with the
  policy simulator) and CloudTrail's event history;
- ``role_switch.py`` and ``pages_roles.py``: switching role (STS AssumeRole as the user) and back.
- ``pages_shell.py``, ``shell.py`` and ``shell_server.py``: the browser shell (xterm.js) through EC2 Instance
  Connect, served on the Instance Connect listener.

``controller/wsgi.py`` sends ``/console`` requests here only when they are not AWS calls (no SigV4
``Authorization`` header, no presigned query), so signed path-style S3 calls to a bucket named
``console`` still reach S3.
"""

#: Where the console is served. The package imports none of its modules: ``cloud.py`` imports
#: ``state.py`` (the sessions table), and the blueprint (``pages.blueprint``) builds on the gateway.
PATH = "/console"


def is_console_request(path: str, authorization: str, query: str) -> bool:
    """Whether a request is the console's: under :data:`PATH` and not an AWS call (signed in the
    Authorization header, SigV2 or SigV4, or presigned in the query)."""
    if path != PATH and not path.startswith(PATH + "/"):
        return False
    if authorization.startswith(("AWS4-", "AWS ")):
        return False
    lowered = query.lower()
    return "x-amz-signature=" not in lowered and "x-amz-credential=" not in lowered
