"""Plugging the signer into the way Python callers send requests: an auth class for `requests`
(used only if that library is installed) and a helper for the standard library's urllib."""
from __future__ import annotations

import urllib.request
from typing import Callable, Optional, Sequence

from .keys import SigningKey
from .signer import sign_request


class TrustPlaneSigner:
    """What every request needs: a passport source, the holder key, the route and headers to bind."""

    def __init__(self, passport: Callable[[], str], holder: SigningKey, route: str, bind_headers: Sequence[str] = ()) -> None:
        self.passport = passport
        self.holder = holder
        self.route = route
        self.bind_headers = tuple(bind_headers)

    def headers_for(self, method: str, url: str, headers: Sequence, body: Optional[bytes]) -> dict:
        signed = sign_request(
            method=method,
            url=url,
            headers=headers,
            body=body or b"",
            passport=self.passport(),
            holder=self.holder,
            route=self.route,
            bind_headers=self.bind_headers,
        )
        return signed.headers


def sign_urllib_request(request: urllib.request.Request, signer: TrustPlaneSigner) -> urllib.request.Request:
    """Adds the passport and proof headers to a urllib Request, over its method, URL, headers and data."""
    data = request.data
    if data is not None and not isinstance(data, (bytes, bytearray)):
        raise TypeError("only a bytes body can be signed; hash a streamed body first")
    # urllib adds Host from the URL when it sends; the transcript takes the authority from the URL too.
    for name, value in signer.headers_for(request.get_method(), request.full_url, list(request.header_items()), bytes(data or b"")).items():
        request.add_header(name, value)
    return request


try:  # pragma: no cover - exercised only where requests is installed
    import requests

    class TrustPlaneAuth(requests.auth.AuthBase):  # type: ignore[misc]
        """`requests.get(url, auth=TrustPlaneAuth(signer))`: signs the prepared request's exact bytes."""

        def __init__(self, signer: TrustPlaneSigner) -> None:
            self.signer = signer

        def __call__(self, r):  # type: ignore[no-untyped-def]
            body = r.body.encode("utf-8") if isinstance(r.body, str) else r.body
            if body is not None and not isinstance(body, (bytes, bytearray)):
                raise TypeError("only a bytes body can be signed")
            r.headers.update(self.signer.headers_for(r.method, r.url, list(r.headers.items()), body))
            return r

except ImportError:  # requests is optional
    pass
