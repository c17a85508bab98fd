"""Which requests the web UI refuses, decided from the request's headers alone (pure, no I/O).

- **DNS rebinding**: a page on a foreign site can make the browser resolve its own name to 127.0.0.1 and then
  talk to us as "same origin". The browser still sends that foreign name as ``Host``, so every request
  whose ``Host`` is not exactly the address we serve (``127.0.0.1:PORT``) is refused.
- **Cross-site requests**: only POSTs change anything, and a POST must carry the per-run token (which only
  our own page gets: other origins cannot read it) in a header (which a cross-origin page cannot set without
  a preflight we never answer), and, when the browser says where it comes from, come from our own origin.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

TOKEN_HEADER = "X-Devloop-Token"


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


def check(
    method: str,
    host: str | None,
    origin: str | None,
    token: str | None,
    *,
    served: str,
    expected_token: str,
    fetch_site: str | None = None,
) -> Refusal | None:
    """None when the request may be served; else the status and the sentence to answer with.

    ``served`` is ``127.0.0.1:PORT``; ``origin``, ``token`` and ``fetch_site`` are the ``Origin``,
    ``X-Devloop-Token`` and ``Sec-Fetch-Site`` headers (None when absent)."""
    if host != served:
        return Refusal(
            421,
            f"this devloop web UI answers only requests for {served} (this one was for {host or 'no host'}); "
            f"open http://{served}/",
        )
    if method in ("GET", "HEAD"):
        return None
    if origin is not None and origin != f"http://{served}":
        return Refusal(403, f"cross-origin request refused (Origin {origin}); only the page at http://{served}/ may")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return Refusal(403, f"cross-site request refused (Sec-Fetch-Site {fetch_site})")
    if token is None or not hmac.compare_digest(token.encode(), expected_token.encode()):
        return Refusal(403, f"missing or wrong {TOKEN_HEADER} header; reload the page at http://{served}/")
    return None
