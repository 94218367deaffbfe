"""The URL carries the spec: a link reproduces the view. Compact: zlib + base64url of the canonical JSON."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from engine.api import SkipLabError, decode

MAX_URL_SPEC = 8000  # characters; browsers and proxies start to refuse URLs much longer than this


def encode_spec(spec_dict: dict[str, Any]) -> str:
    raw = json.dumps(spec_dict, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode_spec(text: str) -> dict[str, Any]:
    """The inverse of encode_spec; a damaged link raises ValueError with a plain message."""
    if len(text) > MAX_URL_SPEC:
        raise ValueError("the spec in the link is too long to be a SkipLab link")
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), 1 << 20)
        if inflate.unconsumed_tail:  # a decompression bomb, not a spec
            raise ValueError("the link's spec is too large")
        text = raw.decode("utf-8")
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"the link's spec is damaged ({exc.__class__.__name__}); start from a preset") from None
    try:  # the bounded loader: 10,000 nested brackets are a message, not a RecursionError on the page
        data = decode(text, "json", what="linked spec")
    except SkipLabError as exc:
        raise ValueError(f"the link's spec cannot be read: {exc}; start from a preset") from None
    if not isinstance(data, dict):
        raise ValueError("the link's spec is not a spec mapping; start from a preset")
    return data
