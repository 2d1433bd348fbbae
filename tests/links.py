"""What mail clients turn into links in a plain-text mail, for the tests that show our mails link nothing
a customer typed (Outlook, Gmail, Apple Mail, Thunderbird and the linkify libraries of web mailers): a
scheme with something right after its colon, "www.", a host name (two labels joined by a dot, IDNA's other
full stops included), an e-mail address, a UNC path. Looked for in the NFKC form of the text, as a client
that maps look-alike characters would see it."""

import re
import unicodedata

LINKABLE = (
    re.compile(r"(?i)\b[a-z][a-z0-9+.-]*:(?!\s)"),
    re.compile(r"(?i)www[.。]"),
    re.compile(r"(?i)[\w-][.。][\w-]"),
    re.compile(r"@"),
    re.compile(r"\\\\"),
)


def links_in(text: str) -> list[str]:
    """The link-like pieces of ``text`` (empty when a mail client would link nothing)."""
    seen_by_a_client = unicodedata.normalize("NFKC", text)
    return [match.group(0) for pattern in LINKABLE for match in pattern.finditer(seen_by_a_client)]
