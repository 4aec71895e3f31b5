"""Public URLs: reading ``publicUrl`` in both of its forms, and joining mount paths exactly once.

``publicUrl`` is written two ways in the wild. Our docs use the origin with an optional prefix
(``https://host[/prefix]``); openclaw documents the full webhook URL
(``https://host/voice/webhook``). Every URL the server gives out or checks a signature against is
built from the *public base* (origin plus prefix), so both forms must lead to the same base.

A host application may also mount the telephony app below a path (a Starlette ``Mount``, the
Litestar plugin's ``path``). Users write that path into ``publicUrl`` or not; either way it must
appear in the public URLs exactly once, which :func:`join_path` takes care of.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import msgspec

__all__ = ["PublicBase", "join_path", "public_base", "redact", "with_origin"]


class PublicBase(msgspec.Struct, frozen=True, kw_only=True):
    """What a configured ``publicUrl`` means.

    Attributes:
        base: ``scheme://host[:port][/prefix]`` without a trailing slash: the root every public
            URL is built on.
        ignored: The query string or fragment the configured URL carried, which no carrier keeps
            in a webhook URL we build; empty when there was none.
    """

    base: str
    ignored: str = ""


def public_base(public_url: str, webhook_path: str) -> PublicBase:
    """Read ``publicUrl`` as a base, whichever form it was written in.

    If the URL's path ends with ``webhook_path`` (``serve.path``), the URL is the webhook URL
    itself and the part before that path is the base; otherwise the URL is the base.

    Args:
        public_url: The configured ``publicUrl``.
        webhook_path: ``serve.path``, starting with ``/``.

    Returns:
        The base, and any query string or fragment that had to be dropped from it.
    """
    parts = urlsplit(public_url)
    path = parts.path.rstrip("/")
    suffix = webhook_path.rstrip("/")
    if suffix and path.endswith(suffix):
        path = path[: -len(suffix)]
    ignored = "?" + parts.query if parts.query else ""
    ignored += "#" + parts.fragment if parts.fragment else ""
    return PublicBase(base=urlunsplit((parts.scheme, parts.netloc, path, "", "")), ignored=ignored)


def join_path(base: str, mount: str) -> str:
    """Append ``mount`` to ``base`` so that a part both already share appears once.

    ``https://host`` + ``/tel`` is ``https://host/tel``; ``https://host/tel`` + ``/tel`` is
    ``https://host/tel`` too, because the user already wrote the mount into ``publicUrl``;
    ``https://host/api`` + ``/api/tel`` is ``https://host/api/tel``. The overlap is matched on
    whole path segments, so ``/tele`` never absorbs ``/tel``.

    Args:
        base: A URL without a trailing slash.
        mount: A path starting with ``/``, or ``""``.
    """
    mount_segments = [s for s in mount.split("/") if s]
    if not mount_segments:
        return base
    parts = urlsplit(base)
    base_segments = [s for s in parts.path.split("/") if s]
    for shared in range(min(len(base_segments), len(mount_segments)), 0, -1):
        if base_segments[-shared:] == mount_segments[:shared]:
            mount_segments = mount_segments[shared:]
            break
    path = "/".join(["", *base_segments, *mount_segments]) if base_segments or mount_segments else ""
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def with_origin(base: str, scheme: str, netloc: str) -> str:
    """``base`` with its scheme and host replaced, its path (the prefix) kept."""
    parts = urlsplit(base)
    return urlunsplit((scheme, netloc, parts.path, "", ""))


def redact(url: str) -> str:
    """``url`` with any password in it masked, for logs (``https://user:***@host/...``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
