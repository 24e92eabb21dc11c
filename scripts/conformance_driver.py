#!/usr/bin/env python3
"""Headless user agent and helpers for ``scripts/conformance``.

The MCP conformance suite's ``authorization`` command prints an authorization URL and waits for a browser to
deliver the authorization response to its callback listener. ``drive`` plays that browser against Drawbridge's
login and consent pages: it reads the URL from the suite's log, signs in, approves, and GETs the callback.

Subcommands:
    ports N                      print N free loopback TCP ports, one a line
    wait --url U [--pid P]       poll U until it answers 200 (fail early if process P exits)
    register --issuer I --redirect-uri R
                                 dynamic client registration; print the client_id
    drive --log F --issuer I --username U [--harness-pid P]
                                 answer the login and consent pages; the password is read from stdin

Every request goes to 127.0.0.1 only; anything else is refused.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

LOOPBACK = "127.0.0.1"
MAX_HOPS = 12
AUTHORIZE_URL = re.compile(r"^(http://127\.0\.0\.1:\d+/\S*authorize\?\S+)\s*$")


class DriverError(Exception):
    """The flow did not go as a browser user would expect."""


def log(message: str) -> None:
    sys.stderr.write(f"driver: {message}\n")
    sys.stderr.flush()


def require_loopback(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK:
        raise DriverError(f"refusing to send a request off loopback: {url}")
    return url


def process_alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- HTML forms -------------------------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    hidden: list[tuple[str, str]] = field(default_factory=list)
    checked: list[tuple[str, str]] = field(default_factory=list)
    text_fields: list[str] = field(default_factory=list)
    password_fields: list[str] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """Collects the forms of a page, their inputs and their named submit buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.errors: list[str] = []
        self._current: Form | None = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = Form(action=attributes.get("action", ""), method=attributes.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag == "p" and "error" in attributes.get("class", "").split():
            self._in_error = True
        elif self._current is not None and tag in {"input", "button"}:
            self._add_control(self._current, tag, attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "p":
            self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.errors.append(data.strip())

    @staticmethod
    def _add_control(form: Form, tag: str, attributes: dict[str, str]) -> None:
        name = attributes.get("name")
        if not name:
            return
        kind = attributes.get("type", "submit" if tag == "button" else "text").lower()
        value = attributes.get("value", "")
        if kind == "hidden":
            form.hidden.append((name, value))
        elif kind in {"checkbox", "radio"}:
            if "checked" in attributes:
                form.checked.append((name, value))
        elif kind == "password":
            form.password_fields.append(name)
        elif kind == "submit":
            form.buttons.append((name, value))
        elif kind in {"text", "email"}:
            form.text_fields.append(name)


def parse_page(text: str) -> FormParser:
    parser = FormParser()
    parser.feed(text)
    parser.close()
    return parser


def excerpt(response: httpx.Response) -> str:
    text = re.sub(r"<style.*?</style>|<[^>]+>", " ", response.text, flags=re.DOTALL)
    return " ".join(text.split())[:600]


# --- The browser ------------------------------------------------------------------------------------------------


class Browser:
    def __init__(self, issuer: str, username: str, password: str, redirect_uri: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.username = username
        self.password = password
        self.redirect_uri = redirect_uri
        self.logged_in = False
        self.client = httpx.Client(follow_redirects=False, timeout=15.0)

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, data: list[tuple[str, str]] | None = None) -> httpx.Response:
        require_loopback(url)
        headers = {"Accept": "text/html"}
        if method == "POST":
            headers["Origin"] = self.issuer
        response = self.client.request(method, url, data=dict_or_pairs(data), headers=headers)
        log(f"{method} {urlsplit(url).path} -> {response.status_code}")
        return response

    def run(self, authorize_url: str) -> None:
        response = self.request("GET", authorize_url)
        for _ in range(MAX_HOPS):
            location = response.headers.get("location")
            if response.is_redirect and location:
                target = str(response.url.join(location))
                if self.is_callback(target):
                    self.deliver(target)
                    return
                response = self.request("GET", target)
                continue
            if response.status_code != 200:
                raise DriverError(f"unexpected {response.status_code} at {response.url.path}: {excerpt(response)}")
            response = self.submit(response)
        raise DriverError(f"no redirect to {self.redirect_uri} after {MAX_HOPS} steps")

    def is_callback(self, url: str) -> bool:
        target, expected = urlsplit(url), urlsplit(self.redirect_uri)
        return (target.scheme, target.netloc, target.path) == (expected.scheme, expected.netloc, expected.path)

    def deliver(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        if "error" in query:
            log(f"authorization response carries an error: {query}")
        for attempt in range(20):  # the suite prints the URL just before its listener is up
            try:
                response = self.request("GET", url)
                break
            except httpx.ConnectError:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        if response.status_code != 200:
            raise DriverError(f"the suite's callback listener answered {response.status_code}: {excerpt(response)}")

    def submit(self, page: httpx.Response) -> httpx.Response:
        parsed = parse_page(page.text)
        forms = [form for form in parsed.forms if form.method == "post"]
        if len(forms) != 1:
            raise DriverError(f"expected one POST form at {page.url.path}, found {len(forms)}: {excerpt(page)}")
        form = forms[0]
        fields = list(form.hidden)
        if form.password_fields:
            if self.logged_in:
                raise DriverError(f"login refused: {' '.join(parsed.errors) or excerpt(page)}")
            if len(form.text_fields) != 1:
                raise DriverError(f"login form has text fields {form.text_fields}, expected one username field")
            fields += [(form.text_fields[0], self.username), (form.password_fields[0], self.password)]
            fields += form.buttons[:1]
            self.logged_in = True
        elif ("action", "approve") in form.buttons:
            fields += [*form.checked, ("action", "approve")]
            log(f"approving scopes {[value for name, value in form.checked if name == 'scope']}")
        else:
            raise DriverError(f"unrecognised form at {page.url.path}: {excerpt(page)}")
        target = str(page.url.join(form.action)) if form.action else str(page.url)
        return self.request("POST", target, fields)


def dict_or_pairs(data: list[tuple[str, str]] | None) -> dict[str, str | list[str]] | None:
    """httpx wants repeated form fields (several ``scope``) as a list under one key."""
    if data is None:
        return None
    grouped: dict[str, list[str]] = {}
    for name, value in data:
        grouped.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def wait_for_authorize_url(log_file: Path, issuer: str, harness_pid: int | None, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_text(errors="replace").splitlines():
                match = AUTHORIZE_URL.match(line.strip())
                if match and match.group(1).startswith(issuer.rstrip("/") + "/"):
                    return match.group(1)
        if not process_alive(harness_pid):
            raise DriverError("the conformance suite exited before printing an authorization URL")
        time.sleep(0.2)
    raise DriverError(f"no authorization URL in {log_file} after {timeout:.0f}s")


# --- Subcommands ------------------------------------------------------------------------------------------------


def cmd_ports(args: argparse.Namespace) -> int:
    sockets = []
    try:
        for _ in range(args.count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        sys.stdout.write("".join(f"{sock.getsockname()[1]}\n" for sock in sockets))
    finally:
        for sock in sockets:
            sock.close()
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    url = require_loopback(args.url)
    deadline = time.monotonic() + args.timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not process_alive(args.pid):
                log(f"process {args.pid} exited before {url} answered")
                return 1
            try:
                if client.get(url).status_code == 200:
                    return 0
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    log(f"{url} did not answer 200 within {args.timeout:.0f}s")
    return 1


def cmd_register(args: argparse.Namespace) -> int:
    url = require_loopback(args.issuer.rstrip("/") + "/register")
    require_loopback(args.redirect_uri)
    body = {
        "redirect_uris": [args.redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "conformance",
    }
    response = httpx.post(url, json=body, timeout=15.0)
    if response.status_code != 201:
        log(f"registration failed: {response.status_code} {response.text[:600]}")
        return 1
    client_id = response.json().get("client_id")
    if not isinstance(client_id, str) or not client_id:
        log(f"registration answered without a client_id: {response.text[:600]}")
        return 1
    sys.stdout.write(client_id + "\n")
    return 0


def cmd_drive(args: argparse.Namespace) -> int:
    password = sys.stdin.read().rstrip("\n")
    if not password:
        log("no password on stdin")
        return 2
    try:
        authorize_url = wait_for_authorize_url(Path(args.log), args.issuer, args.harness_pid, args.timeout)
        redirect_uri = parse_qs(urlsplit(authorize_url).query).get("redirect_uri", [""])[0]
        require_loopback(redirect_uri)
        browser = Browser(args.issuer, args.username, password, redirect_uri)
        try:
            browser.run(authorize_url)
        finally:
            browser.close()
    except (DriverError, httpx.HTTPError) as exc:
        log(f"FAILED: {exc}")
        return 1
    log("authorization response delivered to the suite's callback")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    ports = sub.add_parser("ports", help="print free loopback ports")
    ports.add_argument("count", type=int)
    ports.set_defaults(func=cmd_ports)

    wait = sub.add_parser("wait", help="wait until a URL answers 200")
    wait.add_argument("--url", required=True)
    wait.add_argument("--pid", type=int, help="give up when this process exits")
    wait.add_argument("--timeout", type=float, default=60.0)
    wait.set_defaults(func=cmd_wait)

    register = sub.add_parser("register", help="register a public client by DCR; print its client_id")
    register.add_argument("--issuer", required=True)
    register.add_argument("--redirect-uri", required=True)
    register.set_defaults(func=cmd_register)

    drive = sub.add_parser("drive", help="answer the login and consent pages (password on stdin)")
    drive.add_argument("--log", required=True, help="the conformance suite's output, to find the URL in")
    drive.add_argument("--issuer", required=True)
    drive.add_argument("--username", required=True)
    drive.add_argument("--harness-pid", type=int, help="give up when this process exits")
    drive.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the URL")
    drive.set_defaults(func=cmd_drive)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
