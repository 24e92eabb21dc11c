"""Parsing ``application/x-www-form-urlencoded`` bodies of the back-channel endpoints strictly.

RFC 6749 §3.1/§3.2: parameters sent without a value are treated as omitted, and a parameter MUST NOT be
included more than once.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request

from drawbridge.auth_server.errors import InvalidRequest

MAX_FIELDS = 30


async def read_form(request: Request) -> dict[str, str]:
    """The request's form as a plain dict.

    Raises:
        InvalidRequest: wrong content type, a repeated parameter, or a file upload.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except HTTPException as exc:
        raise InvalidRequest("malformed form body") from exc
    parsed: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidRequest("file uploads are not accepted")
        if key in parsed:
            raise InvalidRequest(f"{key} given more than once")
        if "\x00" in value:
            raise InvalidRequest("parameters must not contain NUL characters")
        if value != "":
            parsed[key] = value
    return parsed
