"""A hardened XML parser for vendor pushes (stdlib expat, no DTD, no entities).

``parse_xml`` refuses any document type declaration, entity declaration or
external entity reference as soon as expat reports it, whatever the document's
encoding (UTF-8, UTF-16 with or without BOM, Latin-1, ...): the refusal happens
on the parser's events, not on a byte pattern, so no entity is ever defined and
none can expand. Parameter entities are never parsed. An encoding expat cannot
decode (unknown name, a multi-byte codec) is a precise :class:`hub.MalformedInput`,
like a document that is not well-formed. Nothing else escapes.
"""

from __future__ import annotations

__all__ = ["parse_xml"]

import re
import xml.etree.ElementTree as ET
from typing import NoReturn
from xml.parsers import expat

from hub.errors import MalformedInput


class _Refused(Exception):
    """Raised from an expat handler to stop at a declaration."""


def _refuse_dtd(*_args: object) -> NoReturn:
    raise _Refused("a DOCTYPE (DTD)")


def _refuse_entity(*_args: object) -> NoReturn:
    raise _Refused("an ENTITY declaration")


def _refuse_external(*_args: object) -> NoReturn:
    raise _Refused("an external entity reference")


_DECLARED = re.compile(
    rb"""^<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]{0,39})["']"""
)


def _unreadable(what: str, data: bytes) -> MalformedInput:
    m = _DECLARED.match(data)
    name = f" {m.group(1).decode()!r}" if m else ""
    return MalformedInput(
        f"{what}: the XML declares an encoding{name} the hub cannot read; "
        "send UTF-8 (or UTF-16, ISO-8859-1)"
    )


def _tag(name: str) -> str:
    """expat's ``uri}local`` (namespace separator ``}``) as ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


def parse_xml(data: bytes, what: str) -> ET.Element:
    """The root element of ``data``. ``what`` names the document in error messages
    (e.g. ``"Hikvision alert"``). Raises MalformedInput (and nothing else)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True

    def start(name: str, attrs: dict[str, str]) -> None:
        builder.start(_tag(name), {_tag(k): v for k, v in attrs.items()})

    def end(name: str) -> None:
        builder.end(_tag(name))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        return builder.close()
    except _Refused as err:
        raise MalformedInput(
            f"{what}: XML with {err} is refused (DTDs, entity declarations and entity "
            "expansion are not accepted in any encoding); send the document without one"
        ) from None
    except expat.ExpatError as err:
        if err.code == expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING]:
            raise _unreadable(what, data) from None
        reason = expat.errors.messages.get(err.code, "syntax error")
        raise MalformedInput(
            f"{what}: not well-formed XML ({reason} at line {err.lineno}, column {err.offset})"
        ) from None
    except (LookupError, ValueError):
        # raised by pyexpat's encoding lookup: an unknown name or a multi-byte codec
        raise _unreadable(what, data) from None
