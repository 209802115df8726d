"""URLs: the one check of an http(s) URL, and URLs as they may be printed.

``check_url`` is the tool's one URL check (the command line, the inventory and every HTTP call
use it); ``dns_host`` the host as the resolver, TLS and the Host header take it. ``redact`` hides
the password of a URL where it is shown, for targets (``ssh://user:password@host``) and services
(``http://user:password@host:11434``) alike, so a password never reaches a message, a report or a
metric label; ``url_secrets`` lists what to scrub from text a transport prints.
"""

from __future__ import annotations

import re
import urllib.parse

_SECRET_QUERY = re.compile(r"([?&](?:password|passwd|pass)=)[^&#]*", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` as it may be printed: a password in ``user:password@`` or a ``password=`` query value
    becomes ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    return scheme + sep + netloc + _SECRET_QUERY.sub(r"\1***", tail)


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets ``url`` holds (to scrub them from any text a transport prints)."""
    try:
        parts = urllib.parse.urlsplit(url)
        found = [parts.password or ""]
        found += [v for k, v in urllib.parse.parse_qsl(parts.query) if k.lower() in ("password", "passwd", "pass")]
    except ValueError:
        found = []
    return tuple(sorted({f for f in found if f}, key=len, reverse=True))


def dns_host(hostname: str) -> str:
    """``hostname`` as the resolver, TLS and the Host header take it: ASCII, international names
    IDNA-encoded (as getaddrinfo would encode them); ValueError saying why it cannot be (a label
    empty or over 63 characters, characters IDNA refuses)."""
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"its host cannot be encoded for DNS (IDNA): {exc.__cause__ or exc}") from None


def check_url(url: str) -> str:
    """``url`` if it is a whole http(s) URL: a host DNS can take, closed IPv6 brackets, a port
    from 1 to 65535 if any; otherwise ValueError with the reason alone ("no host", "port 0", ...),
    for the caller's "URL is not an http(s) URL (REASON)". The one URL check of the tool: the
    command line, the inventory and every call use it."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("it must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("no host")
    if port == 0:
        raise ValueError("port 0")
    dns_host(parts.hostname)  # ValueError naming why DNS cannot take it
    return url
