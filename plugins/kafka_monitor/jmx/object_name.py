"""JMX ObjectNames and ObjectName patterns, parsed and matched by the JDK's rules.

``bean`` in a preset is a JMX ObjectName or ObjectName pattern (``*``/``?`` in the domain or a
value, ``,*`` for "and any other keys"). It is parsed here with the rules of
``javax.management.ObjectName`` (tests compare with the JDK itself) so a malformed pattern is a
configuration error at load time, not a failed snapshot at 3 a.m.; ``ObjectName.matches`` is
``ObjectName.apply``: which concrete beans a pattern selects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class ObjectName:
    """A parsed ObjectName or ObjectName pattern.

    ``properties`` keeps the values exactly as written (quoted values keep their quotes), which
    is what ``javax.management.ObjectName`` compares patterns against; ``unquoted()`` gives the
    values a person reads.
    """

    text: str
    domain: str
    properties: tuple[tuple[str, str], ...]
    property_list_pattern: bool = False
    # Characters the JDK skipped after a closing quote where a ',' belongs (see parse_object_name).
    skipped_after_quote: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_pattern(self) -> bool:
        return (
            self.property_list_pattern
            or _has_wildcard(self.domain)
            or any(_value_is_pattern(v) for _, v in self.properties)
        )

    def unquoted(self) -> dict[str, str]:
        return {k: unquote_value(v) for k, v in self.properties}

    def matches(self, name: ObjectName) -> bool:
        """Whether the concrete ``name`` is selected by this pattern (ObjectName.apply)."""
        if not _wildmatch(self.domain, name.domain):
            return False
        theirs = dict(name.properties)
        mine = dict(self.properties)
        if not self.property_list_pattern and set(mine) != set(theirs):
            return False
        for key, value in mine.items():
            if key not in theirs:
                return False
            if _value_is_pattern(value):
                if not _wildmatch(value, theirs[key]):
                    return False
            elif value != theirs[key]:
                return False
        return True


def parse_object_name(text: str) -> ObjectName:
    """Parse like ``new javax.management.ObjectName(text)``; raise ValueError saying what is wrong."""
    if not isinstance(text, str) or not text:
        raise ValueError("an ObjectName cannot be empty")
    if "\n" in text:
        raise ValueError("an ObjectName cannot contain a newline")
    colon = text.find(":")
    if colon < 0:
        raise ValueError("no ':' between the domain and the key properties (expected domain:key=value,...)")
    domain, rest = text[:colon], text[colon + 1 :]
    if not rest:
        raise ValueError("no key properties after ':' (use domain:* for every bean of a domain)")

    props: list[tuple[str, str]] = []
    skipped: list[str] = []
    list_pattern = False
    i, n = 0, len(rest)
    while i < n:
        if rest[i] == "*" and (i + 1 == n or rest[i + 1] == ","):
            if list_pattern:
                raise ValueError("'*' appears twice in the key property list")
            list_pattern = True
            i += 2  # the JDK accepts "d:k=v,*," - so do we
            continue
        eq = rest.find("=", i)
        if eq < 0:
            raise ValueError(f"key property {rest[i:]!r} has no '=' (expected key=value)")
        key = rest[i:eq]
        if not key:
            raise ValueError(f"a key property at position {colon + 1 + i} has an empty key")
        bad = set(key) & set(",=:*?")
        if bad:
            raise ValueError(f"key {key!r} contains {''.join(sorted(bad))!r}, which keys cannot hold")
        j = eq + 1
        if j < n and rest[j] == '"':
            end = _end_of_quoted(rest, j)
            value = rest[j:end]
            j = end
            if j + 1 == n:
                raise ValueError(f"unexpected {rest[j]!r} at the end, after the quoted value of key {key!r}")
            # javax.management.ObjectName skips the one character after a closing quote, whatever
            # it is (d:k="v"xy=1 is {k: "v", y: 1} to the JDK); the JMX server applies the
            # pattern as the JDK reads it, so it is read the same way here.
            if j < n and rest[j] != ",":
                skipped.append(rest[j])
        else:
            comma = rest.find(",", j)
            end = n if comma < 0 else comma
            value = rest[j:end]  # may be empty: the JDK accepts "d:k="
            bad = set(value) & set('=:"')
            if bad:
                raise ValueError(f"the value of key {key!r} ({value!r}) contains {''.join(sorted(bad))!r}: quote it")
            j = end
        if any(k == key for k, _ in props):
            raise ValueError(f"key {key!r} appears twice")
        props.append((key, value))
        if j < n:  # at a ',' (or the character the JDK skips after a quoted value)
            if j + 1 == n:
                raise ValueError("the key property list ends with ','")
            j += 1
        i = j
    if not props and not list_pattern:
        raise ValueError("no key properties after ':'")
    return ObjectName(
        text=text,
        domain=domain,
        properties=tuple(props),
        property_list_pattern=list_pattern,
        skipped_after_quote=tuple(skipped),
    )


def _end_of_quoted(text: str, start: int) -> int:
    """Index just past the closing quote of the quoted value starting at ``start``."""
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in '"\\*?n':
                raise ValueError(f'bad escape in quoted value {text[start:]!r} (only \\" \\\\ \\* \\? \\n)')
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            break
        i += 1
    raise ValueError(f"quoted value {text[start:]!r} has no closing quote")


def unquote_value(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out, i, body = [], 0, value[1:-1]
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append("\n" if nxt == "n" else nxt)
                i += 2
            else:
                out.append(body[i])
                i += 1
        return "".join(out)
    return value


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _value_is_pattern(value: str) -> bool:
    if value.startswith('"'):
        # In a quoted value only an unescaped * or ? is a wildcard.
        i, body = 0, value[1:-1]
        while i < len(body):
            if body[i] == "\\":
                i += 2
                continue
            if body[i] in "*?":
                return True
            i += 1
        return False
    return _has_wildcard(value)


@lru_cache(maxsize=1024)
def _wild_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def _wildmatch(pattern: str, text: str) -> bool:
    return _wild_regex(pattern).fullmatch(text) is not None


def check_bean_pattern(text: str) -> ObjectName:
    """An ObjectName pattern jmxquery can carry: valid for JMX, and free of its own separators."""
    name = parse_object_name(text)
    if not name.domain:
        raise ValueError("the domain (before ':') is empty; that means the default domain, which differs per JVM")
    # JMXQuery splits its -q argument at ';', the attribute off at '/', and takes "x==" as a
    # metric-name prefix; a bean holding those would be cut in the wrong place.
    if ";" in text:
        raise ValueError("';' cannot appear in a bean pattern (jmxquery separates queries with it)")
    if "==" in text:
        raise ValueError("'==' cannot appear in a bean pattern (jmxquery reads it as a metric-name prefix)")
    if name.skipped_after_quote:
        raise ValueError(
            f"{name.skipped_after_quote[0]!r} follows a closing quote where a ',' belongs "
            "(JMX would silently skip that character)"
        )
    for key, value in name.properties:
        if "/" in value and not value.startswith('"'):
            raise ValueError(f"the value of key {key!r} contains '/': quote it (jmxquery splits attributes at '/')")
    return name
