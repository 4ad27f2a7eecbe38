"""Byte-level SQL lexing: where statements end, as psql sees them.

Everything here works on bytes (a dump's bytes are in its client_encoding,
which need not be UTF-8) and runs inside compiled regular expressions, so a
gigabyte of INSERT statements is split without a Python step per token.

The same tokens read schema files and a dump's DDL (``Script``), with what psql
does there and a data dump never needs: parentheses and ``BEGIN ATOMIC`` bodies
that hold semicolons, meta-commands that end a statement, escapes in plain
strings while standard_conforming_strings is off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dumpfix.errors import DumpError

_IDENT_START = rb"A-Za-z_\x80-\xff"
_IDENT_CHAR = rb"A-Za-z_0-9$\x80-\xff"


# The keyword DEFAULT, in any case.
_DEFAULT = rb"[Dd][Ee][Ff][Aa][Uu][Ll][Tt](?![" + _IDENT_CHAR + rb"])"


def _token(tag: str, without_default: bool, stops: bytes = b"") -> bytes:
    """One token of a statement body, in PostgreSQL's lexical terms.

    An E'' string must come before identifiers, so that the E of E'..' starts a
    string while an E inside a word does not; the others start differently, and
    the most frequent in data (strings, runs of other characters) come first.
    ``tag`` names the group of a dollar quote's tag; without_default leaves the
    keyword DEFAULT out, so that a statement holding it does not match (only
    words starting with D pay for the check). Each character of ``stops`` (a
    regex class's contents) is a token of its own, never part of a run.
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
        rb"|[^;'\"$/\-" + _IDENT_START + stops + rb"]++"  # anything else, in runs
        rb"|[Ee]'(?:[^'\\]++|\\[\s\S]|'')*+'"  # E'' string: backslash escapes
        rb"|"
        + word  # identifier or keyword
        + rb'|"[^"]*+"'  # quoted identifier
        rb"|--[^\n]*+"  # line comment
        rb"|/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/"  # block comment (not nested: slow path)
        rb"|\$(?P<" + name + rb">(?:[" + _IDENT_START + rb"][A-Za-z_0-9\x80-\xff]*+)?)\$[\s\S]*?\$(?P=" + name + rb")\$"
        rb"|/(?!\*)|-(?!-)|\$" + (rb"|[" + stops + rb"]" if stops else b"")
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


_COMMENT_EDGE = re.compile(rb"/\*|\*/")


def _nested_comment_end(buf: bytes, pos: int, end: int) -> int:
    """The end of the block comment at pos: they nest in PostgreSQL."""
    depth = 0
    for edge in _COMMENT_EDGE.finditer(buf, pos, end):
        depth += 1 if buf[edge.start()] == 0x2F else -1
        if depth == 0:
            return edge.end()
    raise DumpError("block comment never ends")


# -- scripts: schema files, a dump's DDL ---------------------------------------------
#: A statement's tokens with parentheses and backslashes as tokens of their own.
_SCRIPT_TOKEN = re.compile(_token("tag", False, stops=rb"()\\"))
# A plain string while standard_conforming_strings is off: backslashes escape, as in
# E''; unterminated, it runs to the end.
_ESCAPED_STRING = re.compile(rb"'(?:[^'\\]++|\\[\s\S]|'')*+'?")
_DOLLAR_OPEN = re.compile(rb"\$(?:[" + _IDENT_START + rb"][A-Za-z_0-9\x80-\xff]*+)?\$")
_COPY_FROM_STDIN = re.compile(rb"COPY\b.*\bFROM\s+STDIN\b", re.IGNORECASE | re.DOTALL)
_END_OF_COPY_DATA = re.compile(rb"^\\\.\r?$", re.MULTILINE)
#: Bytes that start a word (or keyword): _IDENT_START.
_WORD_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_" + bytes(range(0x80, 0x100)))
#: Bytes before a quote that make it a B'', X'', N'' or U&'' string (an E'' is one token).
_PREFIX_END = _WORD_START | frozenset(b"0123456789&")
_FUNCTION = (b"function", b"procedure")


class Script:
    """psql's view of a script's bytes: where each statement starts and ends, with
    the dump splitter's tokens.

    What a data dump lacks and psql still does: a ``;`` inside parentheses or in the
    ``BEGIN ATOMIC ... END`` body of a CREATE FUNCTION or PROCEDURE does not end a
    statement; a backslash (a meta-command, to the end of its line) does; an
    unterminated string, quoted name, dollar quote or comment runs to the end of the
    script, as psql waits for more; COPY ... FROM stdin data is skipped up to its
    ``\\.`` line. While ``escapes`` is set (standard_conforming_strings off: the
    reader of the statements sets it between them), a plain string's backslashes
    escape, as in E''.
    """

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.escapes = False

    def statements(self) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        """(start, end, escaped) of each statement, end before the ``;`` or meta-command
        that ends it; escaped: where its plain strings start that escapes made E''."""
        buf, n = self.buf, len(self.buf)
        pos = 0
        while pos < n:
            pos = self._space_end(pos)
            if pos >= n:
                return
            if buf[pos] == 0x5C:  # a meta-command line
                pos = _line_end(buf, pos)
                continue
            if buf[pos] == 0x3B:  # an empty statement
                pos += 1
                continue
            start = pos
            end, escaped = self._statement_end(start)
            yield start, end, escaped
            pos = end
            if pos < n and buf[pos] == 0x3B:
                pos += 1
                if _COPY_FROM_STDIN.match(buf, start, end):  # inline data, up to a line that is \.
                    data_end = _END_OF_COPY_DATA.search(buf, _line_end(buf, pos))
                    pos = n if data_end is None else data_end.end()

    def _space_end(self, pos: int) -> int:
        """The end of the whitespace and comments (nested too) from pos."""
        buf = self.buf
        while True:
            pos = skip_space(buf, pos)
            if buf[pos : pos + 2] != b"/*":
                return pos
            pos = self._comment_end(pos)

    def _comment_end(self, pos: int) -> int:
        try:
            return _nested_comment_end(self.buf, pos, len(self.buf))
        except DumpError:
            return len(self.buf)

    def _statement_end(self, start: int) -> tuple[int, tuple[int, ...]]:
        """Where the statement from start ends: at its ``;`` or backslash, else at the
        end of the script; with where its escaped strings start."""
        buf, n = self.buf, len(self.buf)
        depth = begins = 0
        words: list[bytes] = []
        escaped: list[int] = []
        pos = start
        while pos < n:
            c = buf[pos]
            if c == 0x3B:  # ;
                if depth == 0 and begins == 0:
                    return pos, tuple(escaped)
                pos += 1
            elif c == 0x5C:  # a backslash: a meta-command ends the statement
                return pos, tuple(escaped)
            elif c == 0x2F and buf[pos + 1 : pos + 2] == b"*":
                pos = self._comment_end(pos)
            elif c == 0x27 and self.escapes and not (pos > start and buf[pos - 1] in _PREFIX_END):
                escaped.append(pos)
                m = _ESCAPED_STRING.match(buf, pos)
                pos = n if m is None else m.end()
            else:
                m = _SCRIPT_TOKEN.match(buf, pos)
                if m is None or (c == 0x24 and m.end() == pos + 1 and _DOLLAR_OPEN.match(buf, pos)):
                    break  # unterminated: the rest of the script
                if c == 0x28:  # (
                    depth += 1
                elif c == 0x29:  # )
                    depth = max(depth - 1, 0)
                elif c in _WORD_START and not (c in b"Ee" and buf[pos + 1 : pos + 2] == b"'"):
                    word = m.group().lower()
                    if len(words) < 4:
                        words.append(word)
                    if depth == 0 and _function_head(words):
                        begins = _begins(word, begins)
                pos = m.end()
        return n, tuple(escaped)


def _line_end(buf: bytes, pos: int) -> int:
    nl = buf.find(b"\n", pos)
    return len(buf) if nl < 0 else nl + 1


def _function_head(words: list[bytes]) -> bool:
    """psql's test for CREATE [OR REPLACE] FUNCTION|PROCEDURE, whose BEGIN ATOMIC
    bodies contain semicolons."""
    if words[:1] != [b"create"]:
        return False
    return words[1:2] in ([b"function"], [b"procedure"]) or (
        words[1:3] == [b"or", b"replace"] and len(words) > 3 and words[3] in _FUNCTION
    )


def _begins(word: bytes, begins: int) -> int:
    """psql's count of open BEGIN (and CASE inside one) ... END in a function's body."""
    if word == b"begin":
        return begins + 1
    if word == b"case" and begins >= 1:
        return begins + 1
    if word == b"end" and begins > 0:
        return begins - 1
    return begins


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
