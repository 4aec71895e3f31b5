"""Plivo's V3 webhook signature, computed with the plivo SDK's own functions.

The SDK builds the signed string (its ``construct_get_url`` / ``construct_post_url``, which hold
the ``?`` versus ``.`` rule: a POST to a URL without a query string joins the sorted parameters
with ``?``, one with a query string with ``.``) and signs it (``get_signature_v3``). Its
``validate_v3_signature`` compares with ``in`` and without trimming; we compare each of the
comma-separated signatures in constant time instead, after trimming spaces.

The SDK is synchronous and slow to import; :func:`load_signer` imports the three functions
once, at carrier creation, so neither the package import nor the first webhook pays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from telephony.providers import signatures_match

SIGNATURE: Final = "x-plivo-signature-v3"
MAIN_ACCOUNT_SIGNATURE: Final = "x-plivo-signature-ma-v3"
NONCE: Final = "x-plivo-signature-v3-nonce"


class V3Signer(NamedTuple):
    """The SDK functions that compute a V3 signature."""

    construct_get_url: Callable[..., bytes]
    construct_post_url: Callable[..., bytes]
    get_signature_v3: Callable[..., bytes]

    def signed_string(self, method: str, url: str, params: Mapping[str, list[str]]) -> str:
        """The string Plivo signs before the nonce: URL, sorted query, sorted POST parameters."""
        own: dict[str, Any] = {key: list(values) for key, values in params.items()}  # the SDK mutates it
        if method.upper() == "GET":
            return self.construct_get_url(url, own).decode("utf-8")
        return self.construct_post_url(url, own).decode("utf-8")

    def signature(
        self, auth_token: str, method: str, url: str, params: Mapping[str, list[str]], nonce: str
    ) -> str:
        """``X-Plivo-Signature-V3`` for one request, as Plivo computes it."""
        signed = self.signed_string(method, url, params)
        return self.get_signature_v3(auth_token.encode(), signed, nonce.encode()).decode()

    def matches(
        self,
        auth_token: str,
        method: str,
        url: str,
        params: Mapping[str, list[str]],
        nonce: str,
        header: str,
    ) -> bool:
        """Whether any of the comma-separated signatures in ``header`` is right (constant time each)."""
        try:
            expected = self.signature(auth_token, method, url, params, nonce)
        except ValueError:  # the SDK reads the URL as ASCII: one with other characters is signed by nobody
            return False
        found = False
        for given in header.split(","):
            found |= signatures_match(expected, given.strip())
        return found


def load_signer() -> V3Signer:
    """Import the SDK's signing functions (raises ``ModuleNotFoundError`` without the extra)."""
    from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

    return V3Signer(construct_get_url, construct_post_url, get_signature_v3)
