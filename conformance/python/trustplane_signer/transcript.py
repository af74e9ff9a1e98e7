"""transcript-v1 canonical forms and layout, written from docs/transcript-v1.md (sections 2 and 6).

Every function here is a direct reading of one numbered rule of that document; where it refuses an
input it raises :class:`TranscriptError` with the reason code the verifier would give.
"""
from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

VERSION_LINE = "trustplane-transcript-v1"
MAX_BOUND_HEADERS = 32

# §6.6: names that may never be bound, besides every name starting with "x-trustplane-".
UNBINDABLE = frozenset(
    {
        "host",
        "cookie",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-authenticate",
        "x-envoy-auth-partial-body",
    }
)

# re.fullmatch is used throughout: `$` in re.match would accept a trailing newline.
_METHOD = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_IPV6_HOST = re.compile(r"\[[0-9a-f:.]+\]")
_REG_HOST = re.compile(r"[a-z0-9._~!$&'()*+,;=-]+")
_PORT = re.compile(r"[0-9]{1,5}")

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_LITERAL = _UNRESERVED | frozenset(b"!$&'()*+,;=:@/")
_QUERY_KEY_LITERAL = _UNRESERVED | frozenset(b"!$'()*+,;:@/?")
_QUERY_VALUE_LITERAL = _QUERY_KEY_LITERAL | frozenset(b"=")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class TranscriptError(ValueError):
    """An input the verifier would refuse; ``reason`` is its reason code (docs/reason-codes.md)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def b64url(data: bytes) -> str:
    """RFC 4648 §5 base64url without padding (§2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict decoding (§2): only the alphabet, no padding, and the canonical encoding of its bytes."""
    if re.fullmatch(r"[A-Za-z0-9_-]*", text) is None or len(text) % 4 == 1:
        raise ValueError("not canonical base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not canonical base64url (non-zero trailing bits)")
    return data


def b64sha(data: bytes) -> str:
    return b64url(hashlib.sha256(data).digest())


def ascii_lower(text: str) -> str:
    """§2: maps exactly A-Z to a-z; no Unicode case mapping."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def check_method(method: str) -> str:
    if _METHOD.fullmatch(method) is None:
        raise TranscriptError("request_malformed", f"method {method!r} is not a token of 1-32 characters")
    return method


def canonical_authority(raw: str) -> str:
    """§6.3."""
    a = ascii_lower(raw)
    if a == "" or len(a) > 255 or "@" in a:
        raise TranscriptError("authority_invalid", f"authority {raw!r} is empty, too long or has userinfo")
    if a.startswith("["):
        end = a.find("]")
        if end < 0:
            raise TranscriptError("authority_invalid", "unterminated IPv6 literal")
        host, rest = a[: end + 1], a[end + 1 :]
        if _IPV6_HOST.fullmatch(host) is None:
            raise TranscriptError("authority_invalid", f"bad IPv6 literal {host!r}")
        if rest == "":
            return host
        if not rest.startswith(":"):
            raise TranscriptError("authority_invalid", "text after the IPv6 literal")
        port = rest[1:]
    else:
        colon = a.rfind(":")
        if colon < 0:
            host, port = a, None
        else:
            host, port = a[:colon], a[colon + 1 :]
        if _REG_HOST.fullmatch(host) is None:
            raise TranscriptError("authority_invalid", f"bad host {host!r}")
        if port is None:
            return host
    if _PORT.fullmatch(port) is None or not 1 <= int(port) <= 65535:
        raise TranscriptError("authority_invalid", f"bad port {port!r}")
    n = int(port)
    return host if n in (80, 443) else f"{host}:{n}"


def _percent_canonical(raw: bytes, literal: frozenset, refuse: Sequence[int], what: str) -> str:
    """§6.4 step 3 (and §6.5 step 3 with the query literal sets)."""
    out: List[str] = []
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:  # '%'
            if i + 2 >= len(raw) or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                raise TranscriptError("path_not_canonical", f"malformed percent-escape in the {what}")
            d = int(raw[i + 1 : i + 3], 16)
            if d in refuse:
                raise TranscriptError("path_not_canonical", f"escaped byte 0x{d:02X} in the {what}")
            out.append(chr(d) if d in _UNRESERVED else f"%{d:02X}")
            i += 3
            continue
        if b == 0:
            raise TranscriptError("path_not_canonical", f"NUL byte in the {what}")
        out.append(chr(b) if b in literal else f"%{b:02X}")
        i += 1
    return "".join(out)


def split_path_and_query(path_and_query: str) -> Tuple[str, str]:
    q = path_and_query.find("?")
    return (path_and_query, "") if q < 0 else (path_and_query[:q], path_and_query[q + 1 :])


def canonical_path(path: str) -> str:
    """§6.4, on the part before the first '?'."""
    if not path.startswith("/"):
        raise TranscriptError("path_not_canonical", "the path does not start with '/'")
    if "\\" in path or "#" in path:
        raise TranscriptError("path_not_canonical", "backslash or '#' in the path")
    canon = _percent_canonical(path.encode("utf-8"), _PATH_LITERAL, (0x2F, 0x5C, 0x00), "path")
    _refuse_other_paths(canon)
    segments = canon.split("/")[1:]
    for i, seg in enumerate(segments):
        if seg in (".", ".."):
            raise TranscriptError("path_not_canonical", "dot segment in the path")
        if seg == "" and i != len(segments) - 1:
            raise TranscriptError("path_not_canonical", "empty segment in the path")
    return canon


_WATCHED = "/\\.;%?#"
_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _refuse_other_paths(canon: str) -> None:
    """§6.4 step 4: forms an upstream could resolve to another path than the one signed."""
    if "%" in canon:
        raw = bytearray()
        i = 0
        while i < len(canon):
            if canon[i] == "%":
                raw.append(int(canon[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.append(ord(canon[i]))
                i += 1
        try:
            text = bytes(raw).decode("utf-8")  # strict: overlong forms and surrogates are errors
        except UnicodeDecodeError:
            raise TranscriptError("path_not_canonical", "escapes that are not well-formed UTF-8") from None
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise TranscriptError("path_not_canonical", "an escaped control character")
        if ";" in text:
            raise TranscriptError("path_not_canonical", "an escaped ';'")
        if _HEX_ESCAPE.search(text):
            raise TranscriptError("path_not_canonical", "a second layer of escapes")
        nfkc = unicodedata.normalize("NFKC", text)
        if any(nfkc.count(c) > text.count(c) for c in _WATCHED):
            raise TranscriptError("path_not_canonical", "NFKC normalisation adds a path delimiter")
    if ";" in canon:
        raise TranscriptError("path_not_canonical", "a path parameter (';')")


def canonical_query(query: str) -> str:
    """§6.5, on the part after the first '?'."""
    if query == "":
        return ""
    if "#" in query:
        raise TranscriptError("path_not_canonical", "'#' in the query")
    params: List[Tuple[str, str]] = []
    for part in query.split("&"):
        if part == "":
            continue
        eq = part.find("=")
        key_raw, value_raw = (part, None) if eq < 0 else (part[:eq], part[eq + 1 :])
        key = _percent_canonical(key_raw.encode("utf-8"), _QUERY_KEY_LITERAL, (0x00,), "query")
        if value_raw is None:
            params.append((key, key))
        else:
            value = _percent_canonical(value_raw.encode("utf-8"), _QUERY_VALUE_LITERAL, (0x00,), "query")
            params.append((key, f"{key}={value}"))
    # Python's sort is stable; keys compare by code point, which for ASCII is byte order.
    params.sort(key=lambda kv: kv[0].encode("utf-8"))
    return "&".join(text for _, text in params)


def free_text(value: str) -> str:
    """§6.16."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in value.encode("utf-8"))


def _trim_ows(value: str) -> str:
    return value.strip(" \t")


def collect_headers(headers: Iterable[Tuple[str, str]]) -> dict:
    """Lower-case name -> occurrences trimmed and joined with ',' in order, as Envoy presents them (§6.6)."""
    out: dict = {}
    for name, value in headers:
        n = ascii_lower(name)
        v = _trim_ows(value)
        out[n] = v if n not in out else f"{out[n]},{v}"
    return out


def check_bound_names(names: Sequence[str]) -> None:
    """§6.6: names are bindable tokens, in byte order, unique, at most 32."""
    if len(names) > MAX_BOUND_HEADERS:
        raise TranscriptError("proof_malformed", "more than 32 bound headers")
    for n in names:
        if _HEADER_NAME.fullmatch(n) is None or n in UNBINDABLE or n.startswith("x-trustplane-"):
            raise TranscriptError("header_not_bindable", f"header {n!r} may not be bound")
    if list(names) != sorted(set(names), key=lambda s: s.encode("ascii")):
        raise TranscriptError("proof_malformed", "bound header names are not sorted and unique")


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 thumbprint over the required members only (§6.15)."""
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        text = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % jwk["x"]
    elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        text = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (jwk["x"], jwk["y"])
    else:
        raise ValueError("cnf key is neither Ed25519 nor P-256")
    return b64sha(text.encode("utf-8"))


@dataclass(frozen=True)
class TranscriptInput:
    method: str
    authority: str
    path_and_query: str
    headers: Sequence[Tuple[str, str]]  # bound (name, value) pairs, names sorted and unique
    body_sha256: str
    nonce: str
    audience: str
    route: str
    jti: str
    passport_sha256: str
    ts: int
    key_binding: str
    cnf_jkt: str


def build_transcript(t: TranscriptInput) -> str:
    """§6.1: the lines in order, each ending with '\\n'."""
    if _NONCE.fullmatch(t.nonce) is None:
        raise TranscriptError("proof_malformed", "nonce is not 16-64 base64url characters")
    if not (isinstance(t.ts, int) and 0 <= t.ts <= 2**53 - 1):
        raise TranscriptError("proof_malformed", "ts is not an integer in 0..2^53-1")
    path, query = split_path_and_query(t.path_and_query)
    names = [n for n, _ in t.headers]
    check_bound_names(names)
    lines = [
        VERSION_LINE,
        f"method:{check_method(t.method)}",
        f"authority:{canonical_authority(t.authority)}",
        f"path:{canonical_path(path)}",
        f"query:{canonical_query(query)}",
        f"headers:{';'.join(names)}",
        *[f"header:{n}:{free_text(_trim_ows(v))}" for n, v in t.headers],
        f"body-sha256:{t.body_sha256}",
        f"nonce:{t.nonce}",
        f"aud:{free_text(t.audience)}",
        f"route:{free_text(t.route)}",
        f"jti:{free_text(t.jti)}",
        f"passport-sha256:{t.passport_sha256}",
        f"ts:{t.ts}",
        f"key-binding:{free_text(t.key_binding)}",
        f"cnf-jkt:{t.cnf_jkt}",
    ]
    return "".join(line + "\n" for line in lines)


def field_digests(transcript: str) -> bytes:
    """§8: the first 4 bytes of SHA-256 of every line after the version line, without its '\\n'."""
    lines = transcript.split("\n")[1:-1]
    return b"".join(hashlib.sha256(line.encode("utf-8")).digest()[:4] for line in lines)
