"""Result shapes: a small notation in the functions' COMMENTs, turned into JSON Schema (draft-07).

Each `api` function declares what it returns with a line `@result <type>`; a function that
builds a JSON value other functions share (e.g. `internal.course_json`) declares it once with
`@shape <name> <type>`, and results refer to it by name. The notation:

    uuid  text  int  number  bool  timestamptz  date  json (any value)  object (any object)
    T?            T or null
    T[]           an array of T
    {a: T, b?: T} an object with exactly these fields; `b?` may be absent
    name          a shape declared with @shape (published under components.schemas)

A type may span lines while braces are open. Objects are closed (no other fields), so a field the
SQL adds or drops without the declaration fails the test suite, which validates every result it
sees against its method's schema.
"""

from __future__ import annotations

import re

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
SCALARS: dict[str, dict] = {
    "uuid": {"type": "string", "pattern": UUID_PATTERN},
    "text": {"type": "string"},
    "int": {"type": "integer"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "json": {},
    "object": {"type": "object"},
}
TOKEN = re.compile(r"\s*(\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\[\]|[{}:,?])")
DECLARATION = re.compile(r"^@(result|shape)\b", re.M)


class ShapeError(ValueError):
    pass


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


class _Parser:
    def __init__(self, text: str, shapes: set[str]):
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.shapes = shapes

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        tokens, pos = [], 0
        text = text.rstrip()
        while pos < len(text):
            m = TOKEN.match(text, pos)
            if not m:
                raise ShapeError(f"unexpected {text[pos:pos + 20]!r}")
            tokens.append(m.group(1))
            pos = m.end()
        return tokens

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ShapeError(f"expected {expected or 'a token'}, got {tok!r}")
        self.pos += 1
        return tok

    def type(self) -> dict:
        if self.peek() == "{":
            schema = self.object()
        else:
            name = self.take()
            if name in SCALARS:
                schema = dict(SCALARS[name])
            elif name in self.shapes:
                schema = ref(name)
            else:
                raise ShapeError(f"unknown type {name!r}")
        while self.peek() == "[]":
            self.take()
            schema = {"type": "array", "items": schema}
        if self.peek() == "?":
            self.take()
            schema = {"anyOf": [schema, {"type": "null"}]}
        return schema

    def object(self) -> dict:
        self.take("{")
        props: dict[str, dict] = {}
        required: list[str] = []
        while self.peek() != "}":
            name = self.take()
            optional = self.peek() == "?"
            if optional:
                self.take()
            self.take(":")
            if name in props:
                raise ShapeError(f"field {name!r} twice")
            props[name] = self.type()
            if not optional:
                required.append(name)
            if self.peek() == ",":
                self.take()
            elif self.peek() != "}":
                raise ShapeError(f"expected , or }} after field {name!r}")
        self.take("}")
        schema: dict = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def parse(self) -> dict:
        schema = self.type()
        if self.peek() is not None:
            raise ShapeError(f"unexpected {self.peek()!r} after the type")
        return schema


def parse_type(text: str, shapes: set[str] | frozenset[str] = frozenset()) -> dict:
    """The JSON Schema of one type in the notation (shape names must be in `shapes`)."""
    return _Parser(text, set(shapes)).parse()


def declarations(comment: str) -> list[tuple[str, str | None, str]]:
    """(kind, shape name or None, type text) for each @result/@shape in a COMMENT."""
    found = []
    for m in DECLARATION.finditer(comment):
        rest = comment[m.end():]
        depth, end = 0, len(rest)
        for i, ch in enumerate(rest):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "\n" and depth <= 0:
                end = i
                break
        text = rest[:end].strip()
        name = None
        if m.group(1) == "shape":
            name, _, text = text.partition(" ")
            text = text.strip()
        found.append((m.group(1), name, text))
    return found


def strip_declarations(comment: str) -> str:
    """The COMMENT without its @result/@shape declarations (for the human-readable description)."""
    out, pos = [], 0
    for m in DECLARATION.finditer(comment):
        out.append(comment[pos:m.start()])
        rest = comment[m.end():]
        depth, end = 0, len(rest)
        for i, ch in enumerate(rest):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "\n" and depth <= 0:
                end = i + 1
                break
        pos = m.end() + end
    out.append(comment[pos:])
    return "".join(out).strip()


def build_shapes(comments: list[str]) -> dict[str, dict]:
    """Every @shape of the given COMMENTs → {name: JSON Schema}; shapes may refer to each other."""
    texts: dict[str, str] = {}
    for comment in comments:
        for kind, name, text in declarations(comment):
            if kind == "shape" and name:
                if name in texts and texts[name] != text:
                    raise ShapeError(f"shape {name!r} declared twice, differently")
                texts[name] = text
    names = set(texts)
    return {name: parse_type(text, names) for name, text in sorted(texts.items())}


def result_type(comment: str) -> str | None:
    for kind, _, text in declarations(comment):
        if kind == "result":
            return text
    return None
