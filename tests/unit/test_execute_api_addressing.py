"""Invoke URLs are recognised by their Host or by the path form, and nothing else is."""

from __future__ import annotations

from controller.execute_api.addressing import invoke_domains, invoke_target

DOMAINS = invoke_domains("home-1", "amazonaws.com")


def test_the_api_id_is_the_first_label_of_an_execute_api_name() -> None:
    assert invoke_target("a1b2c3.execute-api.home-1.amazonaws.com", "/prod/pets?x=1", DOMAINS) == \
        ("a1b2c3", "/prod/pets?x=1")
    assert invoke_target("A1B2C3.Execute-Api.home-1.amazonaws.com:8773", "/prod", DOMAINS) == ("a1b2c3", "/prod")
    assert invoke_target("a1b2c3.execute-api.localhost:8773", "", DOMAINS) == ("a1b2c3", "/")


def test_the_path_form_needs_no_name() -> None:
    assert invoke_target("127.0.0.1:8773", "/_cloudlet/execute-api/a1b2c3/dev/hello%20world", DOMAINS) == \
        ("a1b2c3", "/dev/hello%20world")
    assert invoke_target("127.0.0.1:8773", "/_cloudlet/execute-api/a1b2c3", DOMAINS) == ("a1b2c3", "/")


def test_other_requests_are_not_invoke_urls() -> None:
    assert invoke_target("127.0.0.1:8773", "/restapis", DOMAINS) is None
    assert invoke_target("execute-api.home-1.amazonaws.com", "/prod", DOMAINS) is None  # no API id
    assert invoke_target("x.y.execute-api.home-1.amazonaws.com", "/prod", DOMAINS) is None
    assert invoke_target("a1.execute-api.home-2.amazonaws.com", "/prod", DOMAINS) is None  # another region
    assert invoke_target("[::1]:8773", "/prod", DOMAINS) is None
    assert invoke_target("127.0.0.1", "/_cloudlet/execute-api/", DOMAINS) is None
