"""DRF's JSON parser, except that a body nested deeper than Python's recursion limit is a 400:
json.load raises RecursionError there, which DRF does not catch (a 500)."""
from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
