"""Reading http(s) sources safely: no cloud metadata endpoints, redirects checked hop by hop.

Loopback and private addresses stay allowed: the workspace runs on the user's own
machine, where they can already read them (a local file server is a common source).
Link-local addresses (169.254.0.0/16, fe80::/10, where clouds serve instance
credentials), unspecified, multicast and reserved addresses are refused, before the
first request and after every redirect.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import httpx

from studio_ext.entities._data import redact_url
from studio_ext.errors import BackendUnavailable, InvalidInput, UnsafePath

MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_BLOCKED_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


def check_url(url: str) -> urllib.parse.SplitResult:
    """Refuse URLs that are not http(s) or that point at a link-local or reserved address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"Only http:// and https:// URLs can be read directly. Got {redact_url(url)!r}.")
    host = parts.hostname
    if not host:
        raise InvalidInput(f"The URL {redact_url(url)!r} has no host name.")
    if host.lower().rstrip(".") in _BLOCKED_HOSTS:
        raise UnsafePath(f"The URL {redact_url(url)!r} names a cloud metadata service; it is refused.")
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BackendUnavailable(
            f"The host {host!r} of {redact_url(url)!r} could not be resolved ({exc.strerror}). "
            "Check the URL and this machine's network."
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address.is_link_local or address.is_unspecified or address.is_multicast or address.is_reserved:
            raise UnsafePath(
                f"The URL {redact_url(url)!r} resolves to {address}, a link-local or reserved address "
                "(where cloud machines serve their credentials); it is refused."
            )
    return parts


def download(url: str, dest: Path, *, progress: Callable[[int], None] | None = None,
             limit: int | None = None) -> int:
    """Stream ``url`` into ``dest`` (at most ``limit`` bytes); return the bytes written."""
    written = 0
    with _open(url) as response, open(dest, "wb") as out:
        for chunk in response.iter_bytes(1 << 20):
            if limit is not None:
                chunk = chunk[: limit - written]
            out.write(chunk)
            written += len(chunk)
            if progress:
                progress(len(chunk))
            if limit is not None and written >= limit:
                break
    return written


def content_length(url: str) -> int | None:
    try:
        with _open(url) as response:
            value = response.headers.get("content-length")
            return int(value) if value and value.isdigit() else None
    except BackendUnavailable:
        return None


def file_name(url: str) -> str:
    """The last path segment of a URL, safe as a file name."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    return name or "download"


class _open:
    """A streamed GET whose redirects are followed by hand, each target checked first."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
        self._response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        url = self.url
        try:
            for _ in range(MAX_REDIRECTS + 1):
                check_url(url)
                request = self._client.build_request("GET", url)
                response = self._client.send(request, stream=True)
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    response.close()
                    url = urllib.parse.urljoin(url, location)
                    continue
                if response.status_code >= 400:
                    response.close()
                    raise InvalidInput(
                        f"{redact_url(url)} answered HTTP {response.status_code}. Check the URL "
                        "(and that the file is public, or register a datastore with credentials)."
                    )
                self._response = response
                return response
        except httpx.HTTPError as exc:
            self._client.close()
            raise BackendUnavailable(
                f"{redact_url(url)} could not be reached ({type(exc).__name__}: {exc}). "
                "Check the URL and that the server is up."
            ) from None
        except BaseException:
            self._client.close()
            raise
        self._client.close()
        raise InvalidInput(f"{redact_url(self.url)} redirected more than {MAX_REDIRECTS} times; it is refused.")

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()
        self._client.close()
