"""Signing in to the console through its own form, as a browser does (cookies kept per client)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def signed_in(api, role: str = "admin") -> TestClient:
    """A new browser-like client over the same app, signed in with the role's token."""
    client = TestClient(api.app, raise_server_exceptions=False)
    form = client.get("/console/login")
    r = client.post("/console/login", data={"token": api.tokens[role], "csrf": csrf_of(form.text)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text
    client.csrf = csrf_of(client.get("/console").text)
    return client
