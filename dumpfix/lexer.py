"""Byte-level SQL lexing: where statements end, as psql sees them.

Everything here works on bytes (a dump's bytes are in its client_encoding,
which need not be UTF-8) and runs inside compiled regular expressions, so a
gigabyte of INSERT statements is split without a Python step per token.
"""

from __future__ import annotations

import re

from dumpfix.errors import DumpError

_IDENT_START = rb"A-Za-z_\x80-\xff"
_IDENT_CHAR = rb"A-Za-z_0-9$\x80-\xff"


# The keyword DEFAULT, in any case.
_DEFAULT = rb"[Dd][Ee][Ff][Aa][Uu][Ll][Tt](?![" + _IDENT_CHAR + rb"])"


def _token(tag: str, without_default: bool) -> bytes:
    """One token of a statement body, in PostgreSQL's lexical terms.

    An E'' string must come before identifiers, so that the E of E'..' starts a
    string while an E inside a word does not; the others start differently, and
    the most frequent in data (strings, runs of other characters) come first.
    ``tag`` names the group of a dollar quote's tag; without_default leaves the
    keyword DEFAULT out, so that a statement holding it does not match (only
    words starting with D pay for the check).
    """
    name = tag.encode()
    if without_default:
        word = (
            rb"[A-CE-Za-ce-z_\x80-\xff][" + _IDENT_CHAR + rb"]*+"
            rb"|(?!" + _DEFAULT + rb")[Dd][" + _IDENT_CHAR + rb"]*+"
        )
    else:
        word = rb"[" + _IDENT_START + rb"][" + _IDENT_CHAR + rb"]*+"
    return (
        rb"'[^']*+'"  # standard string; '' is two adjacent strings, same bounds
        rb"|[^;'\"$/\-" + _IDENT_START + rb"]++"  # anything else, in runs
        rb"|[Ee]'(?:[^'\\]++|\\[\s\S]|'')*+'"  # E'' string: backslash escapes
        rb"|"
        + word  # identifier or keyword
        + rb'|"[^"]*+"'  # quoted identifier
        rb"|--[^\n]*+"  # line comment
        rb"|/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/"  # block comment (not nested: slow path)
        rb"|\$(?P<" + name + rb">(?:[" + _IDENT_START + rb"][A-Za-z_0-9\x80-\xff]*+)?)\$[\s\S]*?\$(?P=" + name + rb")\$"
        rb"|/(?!\*)|-(?!-)|\$"
    )


def statement_body(tag: str = "tag", without_default: bool = False) -> bytes:
    """A pattern for a statement's tokens through its ``;``: a pattern that repeats
    a statement needs a second ``tag`` (group names are unique in a pattern)."""
    return rb"(?:" + _token(tag, without_default) + rb")*+;"


#: The characters between strings in the statements pg_dump writes, as far as a
#: statement holding no others lexes the same with or without them: all but what
#: starts a string ('), a comment (- and /), a quoted identifier, a dollar quote
#: ($, which also continues a word), the D of DEFAULT, and the ; that ends it.
#: A lone - (a negative number) is a token of its own; an E before a string makes
#: it an E'' string, which only the general pattern takes.
FAST_RUN = rb"[^;'\"$/\-Dd]"

STATEMENT_BODY = statement_body()
_TOKEN = _token("tag", False)
#: DEFAULT as a word, for a statement the patterns cannot take (it may also stand in a string).
DEFAULT_WORD = re.compile(rb"\bdefault\b", re.IGNORECASE)
_STATEMENT = re.compile(STATEMENT_BODY)

# Whitespace and comments between statements.
_SPACE = re.compile(rb"(?:[ \t\r\n\f\v]++|--[^\n]*+|/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/)++")

IDENT = rb'(?:"(?:[^"]|"")*+"|[' + _IDENT_START + rb"][" + _IDENT_CHAR + rb"]*+)"
_IDENT_RE = re.compile(IDENT)


def skip_space(buf: bytes, pos: int) -> int:
    """The end of the whitespace and comments starting at pos."""
    m = _SPACE.match(buf, pos)
    return m.end() if m else pos


def statement_end(buf: bytes, pos: int, end: int) -> int:
    """The offset just past the ``;`` ending the statement that starts at pos.

    Raises DumpError when the statement never ends (a truncated dump).
    """
    m = _STATEMENT.match(buf, pos, end)
    if m is not None:
        return m.end()
    return _statement_end_slow(buf, pos, end)


def _statement_end_slow(buf: bytes, pos: int, end: int) -> int:
    """Token by token, for what the fast pattern cannot do: nested comments."""
    i = pos
    while i < end:
        c = buf[i : i + 1]
        if c == b";":
            return i + 1
        if buf[i : i + 2] == b"/*":  # slices: an mmap has no startswith()
            i = _nested_comment_end(buf, i, end)
            continue
        m = re.compile(_TOKEN).match(buf, i, end)
        if m is None or m.end() == i:
            break
        i = m.end()
    raise DumpError("statement never ends (unterminated string, comment or truncated file)")


_QUOTED_OR_COMMENT = re.compile(rb"""['"$]|[Ee]'|--|/\*""")


def in_quoted(buf: bytes, pos: int, end: int, at: int) -> bool:
    """Whether ``at`` stands inside a string, quoted identifier, dollar quote or comment
    of the statement from pos to end (its text there is data, never the statement's).

    Token by token: only asked of a few offsets of a dump (pg_dump's messages cut
    into it), so the cost of a Python step per token does not matter.
    """
    token = re.compile(_TOKEN)
    i = pos
    while i < end and i <= at:
        if buf[i : i + 2] == b"/*":
            stop = _nested_comment_end(buf, i, end)
        else:
            m = token.match(buf, i, end)
            if m is None or m.end() == i:
                return True  # an unterminated string or comment: runs to the end
            stop = m.end()
        if i <= at < stop:
            return _QUOTED_OR_COMMENT.match(buf, i) is not None
        i = stop
    return False


def _nested_comment_end(buf: bytes, pos: int, end: int) -> int:
    depth = 0
    i = pos
    while i < end:
        pair = buf[i : i + 2]
        if pair == b"/*":
            depth += 1
            i += 2
        elif pair == b"*/":
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise DumpError("block comment never ends")


# PostgreSQL's encodings (pg_wchar.h's names, as pg_dump writes them in SET
# client_encoding) to Python's codecs; keys as PostgreSQL compares names: upper
# case, without what is not a letter or digit. EUC_TW and MULE_INTERNAL have no
# Python codec.
_CODECS = {
    "BIG5": "big5",
    "EUCCN": "gb2312",
    "EUCJIS2004": "euc_jis_2004",
    "EUCJP": "euc_jp",
    "EUCKR": "euc_kr",
    "GB18030": "gb18030",
    "GBK": "gbk",
    "ISO88595": "iso8859_5",
    "ISO88596": "iso8859_6",
    "ISO88597": "iso8859_7",
    "ISO88598": "iso8859_8",
    "JOHAB": "johab",
    "KOI8R": "koi8_r",
    "KOI8U": "koi8_u",
    "LATIN1": "latin-1",
    "LATIN2": "iso8859_2",
    "LATIN3": "iso8859_3",
    "LATIN4": "iso8859_4",
    "LATIN5": "iso8859_9",
    "LATIN6": "iso8859_10",
    "LATIN7": "iso8859_13",
    "LATIN8": "iso8859_14",
    "LATIN9": "iso8859_15",
    "LATIN10": "iso8859_16",
    "SHIFTJIS2004": "shift_jis_2004",
    "SJIS": "shift_jis",
    "SQLASCII": "latin-1",  # bytes as they are: latin-1 maps each to one character
    "UHC": "cp949",
    "UNICODE": "utf-8",
    "UTF8": "utf-8",
    "WIN866": "cp866",
    "WIN874": "cp874",
    **{f"WIN{n}": f"cp{n}" for n in range(1250, 1259)},
}
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def python_codec(pg_name: str) -> str | None:
    """The Python codec of a PostgreSQL encoding name; None when Python has none."""
    return _CODECS.get(_NOT_ALNUM.sub("", pg_name).upper())


def python_encoding(pg_name: str) -> str:
    """python_codec, or latin-1 (every byte as it is) for a name it does not know."""
    return python_codec(pg_name) or "latin-1"


def unquote_ident(raw: bytes, encoding: str = "utf-8") -> str:
    """An identifier as PostgreSQL stores it: quoted kept, unquoted folded to lower case."""
    text = raw.decode(encoding, "surrogateescape")
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower() if text.isascii() else _fold_ascii(text)


def _fold_ascii(text: str) -> str:
    # PostgreSQL downcases only ASCII letters in unquoted identifiers (in UTF-8).
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)


def split_idents(raw: bytes, encoding: str = "utf-8") -> list[str]:
    """Identifiers of a comma-separated list or a dotted name, unquoted."""
    return [unquote_ident(m.group(), encoding) for m in _IDENT_RE.finditer(raw)]
