"""Text quoted from a file, made safe for the pages: Streamlit renders every message (`st.error`, `st.caption`,
`st.markdown`, `st.toast`, `st.info`, ...) as Markdown, so a file name, a DICOM tag value (SeriesDescription,
Modality) or an error message that embeds one could otherwise add an image that the browser fetches, a
link, a heading, emphasis or coloured text. `md` escapes it so it reads as the plain text it is.

    st.error(f"{md(name)} could not be read.")    # any text from a file, in any message
    st.error(md_error(err))                       # an exception's sentence (reader errors embed file names)

Escaping is done where the text is shown, never where it is made: das_core's errors stay plain sentences
(the CLI prints them as they are).

How (Streamlit's Markdown is CommonMark + GFM + math + directives, rendered without raw HTML unless a
page asks for it):
- `&`, `<`, `>` become entities: never a tag or an autolink `<http://...>`, in Markdown or in markup
  rendered with `unsafe_allow_html` (the entity is decoded back to the character, as text).
- the characters that open inline Markdown are backslash-escaped wherever they are: \\ ` * _ ~ [ ] ( ) ! $ |
  # + { } ^ (images, links, footnotes, emphasis, strike-through, code, math, tables, headings, directive
  attributes); a `:` not followed by a space (a `:name` directive); `-` and `1.` at the start (a list).
- bare links (`http://`, `www.`, `name@host`) are found by GFM *after* escapes are resolved, so a word
  joiner (U+2060, invisible) is put inside them: `:\u2060//`, `www\u2060.`, `@\u2060`.
- line breaks and control characters become one space: the text stays on its line and starts no block.
`.`, `:` before a space, `-`, `=` and quotes are left as they are, so sentences still read (and compare) as
written. Quotes are not escaped: the result is for text, never for an HTML attribute.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["md", "md_error", "one_line", "WORD_JOINER"]

WORD_JOINER = "\u2060"  # zero width, no break: splits a bare link so GFM does not link it
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPED = set("\\`*_~[]()!$|#+{}^")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_LIST_START = re.compile(r"\d{1,9}\.")  # "1." at the start: an ordered list
_BARE_LINK = re.compile(r"(?i)(?P<scheme>://)|(?P<www>www)\.|(?P<at>@)")


def _split_link(m: "re.Match") -> str:
    if m.group("scheme"):
        return ":" + WORD_JOINER + "//"
    if m.group("www"):
        return m.group("www") + WORD_JOINER + "."
    return "@" + WORD_JOINER


def one_line(value: Any) -> str:
    """`value` as text on one line: runs of line breaks, tabs and other control characters become one space."""
    return _CONTROL.sub(" ", "" if value is None else str(value)).strip()


def md(value: Any) -> str:
    """`value` (a file name, a tag value, an error message quoting them, ...) as Markdown that renders as
    exactly that text: no image, link, emphasis, heading, list, HTML tag or Streamlit directive; on one line.

    Args:
        value: anything; None is "".
    """
    text = _BARE_LINK.sub(_split_link, one_line(value))
    out = []
    for i, c in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if c in _ENTITIES:
            out.append(_ENTITIES[c])
        elif c in _ESCAPED or (c == ":" and nxt and not nxt.isspace()) or (c == "-" and i == 0):
            out.append("\\" + c)
        else:
            out.append(c)
    escaped = "".join(out)
    start = _LIST_START.match(escaped)
    if start:
        dot = start.end() - 1
        escaped = escaped[:dot] + "\\." + escaped[dot + 1:]
    return escaped


def md_error(err: BaseException) -> str:
    """An exception as one escaped sentence for `st.error`: a `das_core` error's own sentence, any other
    "Something went wrong: <type>: <message>" (its message may quote a file name or a path)."""
    from das_core.errors import DASError

    text = str(err) if isinstance(err, DASError) else f"Something went wrong: {type(err).__name__}: {err}"
    return md(text)
