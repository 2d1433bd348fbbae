"""The PDF layout of the "Zugangsdaten" letter (business-partner number by post) as a PDF.

The letter is the second factor of the portal onboarding: it carries the customer's
"Geschäftspartner-Nr. Netz". Treat everything in :class:`LetterContent` as a credential:
this module never logs, never writes files and never puts customer data into the PDF
metadata or into exception messages.

Layout follows DIN 5008 Form B for window envelopes (DL, C6/5, C5, C4):

* address field 85 x 45 mm, 20 mm from the left edge and 45 mm from the top,
  made of a 5 mm return-address line (Rücksendeangabe), a 12.7 mm note zone
  (Zusatz- und Vermerkzone, left empty) and a 27.3 mm address zone;
* the print house scans a slightly smaller box (22 mm from the left, 60 mm from the
  top, 85.5 x 25.5 mm), so the recipient lines are kept inside the intersection of
  both boxes: x 25..105 mm, y 62.7..85.5 mm;
* information block 75 mm wide from x = 125 mm; fold marks at 105 mm and 210 mm and
  the hole mark at 148.5 mm on the left edge; text starts 25 mm from the left.

Only the DejaVu Sans TrueType fonts shipped in ``fonts/`` are used, embedded as
subsets: core PDF fonts are never embedded and would be substituted by the printer.
The function is pure: the same content always yields the same bytes (the creation
date is the letter date, so the document ID is stable as well).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from contracts.common import ROLE_LABELS, PartnerRole
from services.letters.domain import LetterContent

__all__ = ["render_letter", "validate_content"]

SUBJECT = "Ihre Zugangsdaten für das Kundenportal"


# --------------------------------------------------------------------------- geometry (mm)

PAGE_W, PAGE_H = 210.0, 297.0
LEFT = 25.0  # DIN 5008 left margin
RIGHT = 190.0  # text column ends 20 mm from the right edge
TEXT_W = RIGHT - LEFT
INFO_X, INFO_W = 125.0, 75.0  # information block

ADDR_FIELD_X, ADDR_FIELD_Y = 20.0, 45.0  # DIN 5008 Form B address field (85 x 45 mm)
RETURN_ZONE_H = 5.0  # Rücksendeangabe
NOTE_ZONE_H = 12.7  # Zusatz- und Vermerkzone
ADDR_ZONE_TOP = ADDR_FIELD_Y + RETURN_ZONE_H + NOTE_ZONE_H  # 62.7 mm
SCAN_BOX_BOTTOM = 60.0 + 25.5  # print-house scan box ends at 85.5 mm
# Recipient text must stay inside DIN window AND print-house scan box: x 22..105 mm.
# Text starts at the 25 mm margin; keep 0.5 mm safety before the 105 mm edge.
ADDR_TEXT_X = 25.0
ADDR_TEXT_MAX_W = 105.0 - ADDR_TEXT_X - 0.5
ADDR_MAX_LINES = 6
ADDR_FONT_PT = 9.0
ADDR_PITCH = 3.7  # mm; 6 lines of 9 pt fit between 62.7 and 85.5 mm with margin

RETURN_FONT_PT = 7.0
RETURN_MIN_FONT_PT = 5.5

BODY_PT = 9.5
BODY_LH = 4.3
SMALL_PT = 8.0
FOOTER_Y = PAGE_H - 11.0
BOTTOM_MARGIN = 17.0

QR_SIZE = 24.0  # mm; a ~80 character URL gives 37..41 modules -> >= 0.58 mm per module
QR_ERROR = "m"

FONT_FAMILY = "dejavu"
_FONT_DIR = Path(__file__).resolve().parent / "fonts"
_FONT_REGULAR = _FONT_DIR / "DejaVuSans.ttf"
_FONT_BOLD = _FONT_DIR / "DejaVuSans-Bold.ttf"

PT_TO_MM = 25.4 / 72.0
# DejaVu Sans ascent, used to position the first address line by its top edge.
_ASCENT = 0.764

_GREY = (90, 90, 90)
_BLACK = (0, 0, 0)
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")
_WS = re.compile(r"\s+")


# --------------------------------------------------------------------------- validation


def validate_content(content: LetterContent) -> None:
    """Raise ValueError if ``content`` cannot be rendered; cheap, so a letter is refused before its job goes out."""
    # Messages deliberately never contain the offending value: it may be a credential.
    if not 1 <= len(content.partners) <= 2:
        raise ValueError("a letter carries one or two partner numbers")
    lines = [ln for ln in content.recipient_lines if ln.strip()]
    if not 1 <= len(lines) <= ADDR_MAX_LINES:
        raise ValueError("recipient_lines must contain 1 to 6 non-empty lines")
    if not _HEX_COLOR.match(content.primary_color.strip()):
        raise ValueError("primary_color must be a hex colour like #00587c")
    if len(content.letterhead) > 6:
        raise ValueError("letterhead has at most 6 lines")
    for partner in content.partners:
        if partner.role not in ROLE_LABELS:
            raise ValueError("partner role must be 'consumption' or 'feed_in'")
        if not partner.partner_number.strip():
            raise ValueError("partner_number must not be empty")
        _validate_link(partner.access_link)
    if not content.meter_number.strip():
        raise ValueError("meter_number must not be empty")


def _validate_link(link: str) -> None:
    if not link.isascii() or any(ch.isspace() or not ch.isprintable() for ch in link):
        raise ValueError("access_link must be printable ASCII without whitespace")
    parts = urlsplit(link)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("access_link must be an absolute http(s) URL")
    # Meter number, partner number and registration code must travel in the fragment only: a fragment is never
    # sent to the server, so it cannot end up in access logs or proxies.
    if parts.query:
        raise ValueError("access_link must not carry a query string")


def _rgb(hex_color: str) -> tuple[int, int, int]:
    m = _HEX_COLOR.match(hex_color.strip())
    assert m is not None  # checked in validate_content
    h = m.group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _tint(rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    """Mix ``rgb`` with white (``amount`` 0 = colour, 1 = white)."""
    r, g, b = (round(c + (255 - c) * amount) for c in rgb)
    return r, g, b


# --------------------------------------------------------------------------- text fitting


def _wrap(text: str, width: Callable[[str], float], max_w: float) -> list[str]:
    """Greedy word wrap; words wider than ``max_w`` are broken between characters."""
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if width(candidate) <= max_w:
            current = candidate
            continue
        if current:
            out.append(current)
            current = ""
        while width(word) > max_w:
            cut = len(word)
            while cut > 1 and width(word[:cut]) > max_w:
                cut -= 1
            out.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not out:
        out.append(current)
    return out


def _truncate(text: str, width: Callable[[str], float], max_w: float) -> str:
    """Cut ``text`` so that it plus an ellipsis fits into ``max_w``."""
    if width(text) <= max_w:
        return text
    cut = len(text)
    while cut > 0 and width(text[:cut].rstrip() + "…") > max_w:
        cut -= 1
    return text[:cut].rstrip() + "…"


def fit_address_lines(
    lines: Sequence[str], width: Callable[[str], float], max_w: float, max_lines: int = ADDR_MAX_LINES
) -> list[str]:
    """Fit the recipient lines into the window.

    Anything outside the window is hidden by the envelope and makes the print house's
    address scan fail, so no line may be wider than the address zone. An overlong line
    is wrapped onto an extra line while the zone still has room for one (the earliest
    lines, i.e. the name, get the spare room first); what still does not fit is
    truncated with an ellipsis. The last lines (street, postcode + city, country) thus
    stay intact, which is what the post needs for delivery.
    """
    wrapped = [_wrap(line, width, max_w) for line in lines]
    spare = max_lines - len(lines)
    out: list[str] = []
    for segments in wrapped:
        take = min(len(segments), 1 + max(spare, 0))
        spare -= take - 1
        kept = segments[:take]
        if take < len(segments):
            kept[-1] = _truncate(" ".join(segments[take - 1 :]), width, max_w)
        out.extend(kept)
    return out


def _link_lines(link: str, width: Callable[[str], float], max_w: float) -> list[str]:
    """Break a URL for display before '#' and '&' (readable), hard-wrapping if needed."""
    pieces = [p for p in re.split(r"(?=[#&])", link) if p]
    out: list[str] = []
    current = ""
    for piece in pieces:
        if current and width(current + piece) > max_w:
            out.append(current)
            current = ""
        current += piece
    if current:
        out.append(current)
    result: list[str] = []
    for line in out:
        result.extend(_wrap(line, width, max_w))
    return result


def _format_date(d: datetime.date) -> str:
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


# --------------------------------------------------------------------------- PDF


class _LetterPDF(FPDF):
    def __init__(self, content: LetterContent) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.content = content
        self.primary = _rgb(content.primary_color)
        self.glyphs: frozenset[int] = frozenset()  # code points both embedded fonts can draw

    # Characters the embedded font cannot draw are replaced up front: otherwise fpdf2
    # would log them ("missing glyphs") and the log would contain customer data.
    def clean(self, text: str) -> str:
        text = _WS.sub(" ", text).strip()
        if not self.glyphs:
            return text
        return "".join(ch if ord(ch) in self.glyphs else "?" for ch in text)

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(FONT_FAMILY, "B" if bold else "", size)

    def shrink_to_fit(self, text: str, max_w: float, size: float, min_size: float, bold: bool = False) -> float:
        """Select the largest font size (down to ``min_size``) at which ``text`` fits ``max_w``."""
        self.font(size, bold)
        while size > min_size and self.get_string_width(text) > max_w:
            size = max(min_size, size - 0.25)
            self.font(size, bold)
        return size

    def header(self) -> None:
        if self.page_no() == 1:
            self.set_draw_color(120, 120, 120)
            self.set_line_width(0.25)
            for y, length in ((105.0, 5.0), (148.5, 8.0), (210.0, 5.0)):
                self.line(0.0, y, length, y)
        else:
            self.font(SMALL_PT)
            self.set_text_color(*_GREY)
            self.set_xy(LEFT, 10.0)
            label = f"Seite {self.page_no()} · {SUBJECT} · {self.clean(self.content.reference)}"
            self.cell(TEXT_W, 4.0, label, align="R")
            self.set_xy(LEFT, BOTTOM_MARGIN)

    def footer(self) -> None:
        c = self.content
        self.set_draw_color(*self.primary)
        self.set_line_width(0.3)
        self.line(LEFT, FOOTER_Y - 2.0, RIGHT, FOOTER_Y - 2.0)
        self.set_text_color(*_GREY)
        parts = [c.operator_name, f"Telefon {c.service_phone}", c.service_email, c.portal_url]
        parts = [self.clean(p) for p in parts if p.strip()]
        text = " · ".join(parts)
        self.shrink_to_fit(text, TEXT_W, 6.5, 5.5)
        # Too long even in 5.5 pt: leave out whole trailing parts (all are in the letter anyway).
        while len(parts) > 1 and self.get_string_width(text) > TEXT_W:
            parts.pop()
            text = " · ".join(parts)
        text = _truncate(text, self.get_string_width, TEXT_W)
        self.set_xy(LEFT, FOOTER_Y)
        self.cell(TEXT_W, 3.0, text, align="C")


def _load_fonts(pdf: _LetterPDF) -> None:
    pdf.add_font(FONT_FAMILY, "", str(_FONT_REGULAR))
    pdf.add_font(FONT_FAMILY, "B", str(_FONT_BOLD))
    regular = pdf.fonts[FONT_FAMILY]
    bold = pdf.fonts[FONT_FAMILY + "B"]
    pdf.glyphs = frozenset(getattr(regular, "cmap", {})) & frozenset(getattr(bold, "cmap", {}))


def _draw_letterhead(pdf: _LetterPDF) -> None:
    c = pdf.content
    pdf.set_fill_color(*pdf.primary)
    pdf.rect(INFO_X, 10.0, INFO_W, 1.2, style="F")
    pdf.set_text_color(*pdf.primary)
    name = pdf.clean(c.operator_name)
    # Prefer the name on one line (shrinking down to 10 pt), else on two lines (down to 9 pt).
    if pdf.shrink_to_fit(name, INFO_W, 13.0, 10.0, bold=True) <= 10.0:
        size = 11.0
        pdf.font(size, bold=True)
        while size > 9.0 and len(_wrap(name, pdf.get_string_width, INFO_W)) > 2:
            size -= 0.25
            pdf.font(size, bold=True)
    y = 14.0
    for line in fit_address_lines([name], pdf.get_string_width, INFO_W, 2):
        pdf.set_xy(INFO_X, y)
        pdf.cell(INFO_W, 5.0, line, align="R")
        y += 5.0
    pdf.font(SMALL_PT)
    pdf.set_text_color(*_GREY)
    y += 1.0
    for line in c.letterhead:
        pdf.set_xy(INFO_X, y)
        pdf.cell(INFO_W, 3.6, _truncate(pdf.clean(line), pdf.get_string_width, INFO_W - 2.0), align="R")
        y += 3.6


def _draw_address(pdf: _LetterPDF) -> None:
    c = pdf.content
    # Return-address line: inside the first 5 mm of the address field, small type.
    ret = pdf.clean(c.return_address)
    pdf.shrink_to_fit(ret, ADDR_TEXT_MAX_W, RETURN_FONT_PT, RETURN_MIN_FONT_PT)
    ret = _truncate(ret, pdf.get_string_width, ADDR_TEXT_MAX_W)
    pdf.set_text_color(*_GREY)
    baseline = ADDR_FIELD_Y + 3.4
    pdf.text(ADDR_TEXT_X, baseline, ret)
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.1)
    pdf.line(ADDR_TEXT_X, baseline + 0.9, ADDR_TEXT_X + pdf.get_string_width(ret), baseline + 0.9)

    # Address zone: one font and size, left aligned, no blank lines, top aligned.
    pdf.font(ADDR_FONT_PT)
    pdf.set_text_color(*_BLACK)
    lines = [pdf.clean(ln) for ln in c.recipient_lines if ln.strip()]
    fitted = fit_address_lines(lines, pdf.get_string_width, ADDR_TEXT_MAX_W)
    top = ADDR_ZONE_TOP + 0.6
    baseline = top + _ASCENT * ADDR_FONT_PT * PT_TO_MM
    for i, line in enumerate(fitted):
        pdf.text(ADDR_TEXT_X, baseline + i * ADDR_PITCH, line)


def _draw_info_block(pdf: _LetterPDF) -> None:
    c = pdf.content
    label_w, value_w, lh = 25.0, INFO_W - 25.0, 3.8
    y = 50.0
    pdf.set_xy(INFO_X, y)
    pdf.font(SMALL_PT, bold=True)
    pdf.set_text_color(*pdf.primary)
    pdf.cell(INFO_W, lh, "Ihr Kontakt")
    y += lh + 0.4

    def row(label: str, value: str) -> None:
        nonlocal y
        pdf.set_xy(INFO_X, y)
        pdf.font(SMALL_PT)
        pdf.set_text_color(*_GREY)
        pdf.cell(label_w, lh, label)
        pdf.set_text_color(*_BLACK)
        pdf.set_xy(INFO_X + label_w, y)
        pdf.multi_cell(value_w, lh, pdf.clean(value), align="L", padding=0)
        y = max(pdf.get_y(), y + lh)

    row("Telefon", c.service_phone)
    row("E-Mail", c.service_email)
    row("Servicezeiten", c.service_hours)
    y += 2.0
    row("Unser Zeichen", c.reference)
    row("Datum", _format_date(c.letter_date))


def _paragraph(
    pdf: _LetterPDF,
    text: str,
    *,
    size: float = BODY_PT,
    bold: bool = False,
    x: float = LEFT,
    w: float = TEXT_W,
    lh: float = BODY_LH,
) -> None:
    pdf.font(size, bold=bold)
    pdf.set_x(x)
    pdf.multi_cell(w, lh, pdf.clean(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _draw_data_box(pdf: _LetterPDF) -> None:
    c = pdf.content
    rows: list[tuple[str, str, str]] = [("Zählernummer", c.meter_number, "")]
    for p in c.partners:
        rows.append(("Geschäftspartner-Nr. Netz", p.partner_number, ROLE_LABELS[PartnerRole(p.role)]))
    rows.append(("Portaladresse", c.portal_url, ""))
    row_h, pad = 5.6, 2.2
    height = len(rows) * row_h + 2 * pad
    if pdf.will_page_break(height):
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_fill_color(*_tint(pdf.primary, 0.9))
    pdf.set_draw_color(*pdf.primary)
    pdf.set_line_width(0.3)
    pdf.rect(LEFT, top, TEXT_W, height, style="DF", round_corners=True, corner_radius=1.5)
    y = top + pad
    label_w = 58.0
    for label, value, role in rows:
        pdf.set_xy(LEFT + 4.0, y)
        pdf.font(9.0)
        pdf.set_text_color(*_GREY)
        pdf.cell(label_w, row_h, label)
        pdf.set_text_color(*_BLACK)
        value_text = pdf.clean(value)
        role_w = 40.0 if role else 0.0
        pdf.shrink_to_fit(value_text, TEXT_W - 8.0 - label_w - role_w, 10.5, 7.0, bold=True)
        pdf.cell(pdf.get_string_width(value_text) + 2.0, row_h, value_text)
        if role:
            pdf.font(9.0)
            pdf.set_text_color(*pdf.primary)
            pdf.cell(0, row_h, f"  {role}")
        y += row_h
    pdf.set_text_color(*_BLACK)
    pdf.set_xy(LEFT, top + height + 3.0)


def _draw_steps(pdf: _LetterPDF) -> None:
    c = pdf.content
    zugang = c.portal_url.rstrip("/") + "/zugang"
    two = len(c.partners) == 2
    steps = [
        f"Portal öffnen: {zugang} – oder den QR-Code unten scannen; Zählernummer und "
        "Geschäftspartner-Nr. sind dann bereits eingetragen.",
        "„Zugang beantragen“ wählen und Zählernummer, Geschäftspartner-Nr. Netz und Ihre E-Mail-Adresse eingeben.",
        "Den Bestätigungslink in der E-Mail öffnen, die Sie daraufhin von uns erhalten, und ein Passwort vergeben.",
        "Anmelden mit Ihrer E-Mail-Adresse und Ihrem Passwort.",
    ]
    _paragraph(pdf, "So richten Sie Ihren Zugang ein:", bold=True)
    pdf.ln(0.5)
    for i, step in enumerate(steps, start=1):
        pdf.font(BODY_PT, bold=True)
        pdf.set_text_color(*pdf.primary)
        y = pdf.get_y()
        pdf.set_xy(LEFT, y)
        pdf.cell(6.0, BODY_LH, f"{i}.")
        pdf.set_text_color(*_BLACK)
        _paragraph(pdf, step, x=LEFT + 6.0, w=TEXT_W - 6.0)
    if two:
        pdf.ln(1.0)
        _paragraph(
            pdf,
            "Sie haben zwei Geschäftspartner-Nummern: Wiederholen Sie die Schritte 2 und 3 mit der "
            "zweiten Nummer und derselben E-Mail-Adresse und demselben Passwort. Bei der Anmeldung "
            "wählen Sie dann die Geschäftspartner-Nr. aus.",
        )
    pdf.ln(3.0)


def _draw_qr(pdf: FPDF, data: str, x: float, y: float, size: float) -> None:
    """Draw the QR code as vector rectangles (one per horizontal run of dark modules)."""
    qr = segno.make_qr(data, error=QR_ERROR)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix)
    m = size / n
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                pdf.rect(x + start * m, y + r * m, (c - start) * m, m, style="F")
            else:
                c += 1


def _draw_qr_blocks(pdf: _LetterPDF) -> None:
    c = pdf.content
    block_h = QR_SIZE
    if pdf.will_page_break(block_h):
        pdf.add_page()
    top = pdf.get_y()
    col_w = (TEXT_W - 5.0) / 2
    for i, p in enumerate(c.partners):
        x = LEFT + i * (col_w + 5.0)
        _draw_qr(pdf, p.access_link, x, top, QR_SIZE)
        pdf.link(x, top, QR_SIZE, QR_SIZE, p.access_link)
        tx, tw = x + QR_SIZE + 3.0, col_w - QR_SIZE - 3.0
        pdf.set_xy(tx, top)
        pdf.font(9.0, bold=True)
        pdf.set_text_color(*pdf.primary)
        pdf.cell(tw, 4.4, ROLE_LABELS[PartnerRole(p.role)], new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.font(8.0)
        pdf.set_text_color(*_BLACK)
        pdf.cell(tw, 4.0, f"Geschäftspartner-Nr. {pdf.clean(p.partner_number)}", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_y(pdf.get_y() + 1.0)
        pdf.set_x(tx)
        pdf.font(6.5)
        pdf.set_text_color(*pdf.primary)
        for line in _link_lines(p.access_link, pdf.get_string_width, tw - 1.0):
            pdf.cell(tw, 3.0, line, link=p.access_link, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*_BLACK)
    pdf.set_xy(LEFT, top + block_h + 4.0)


def _draw_security_note(pdf: _LetterPDF) -> None:
    c = pdf.content
    text = (
        "Bewahren Sie dieses Schreiben sorgfältig auf und geben Sie die Geschäftspartner-Nr. "
        "nicht weiter. Haben Sie keinen Zugang beantragt? Dann rufen Sie uns bitte an: "
        f"{c.service_phone}."
    )
    pdf.font(9.0)
    lines = pdf.multi_cell(TEXT_W - 5.0, 4.2, pdf.clean(text), dry_run=True, output="LINES")
    assert isinstance(lines, list)
    height = len(lines) * 4.2
    if pdf.will_page_break(height):
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_fill_color(*pdf.primary)
    pdf.rect(LEFT, top, 1.2, height, style="F")
    pdf.set_xy(LEFT + 4.0, top)
    pdf.multi_cell(TEXT_W - 5.0, 4.2, pdf.clean(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4.0)


def _draw_closing(pdf: _LetterPDF) -> None:
    c = pdf.content
    if pdf.will_page_break(20.0):
        pdf.add_page()
    _paragraph(pdf, "Freundliche Grüße")
    pdf.ln(2.0)
    _paragraph(pdf, c.operator_name)
    pdf.ln(1.5)
    pdf.set_text_color(*_GREY)
    _paragraph(
        pdf,
        "Dieses Schreiben wurde maschinell erstellt und ist ohne Unterschrift gültig.",
        size=SMALL_PT,
        lh=3.8,
    )
    pdf.set_text_color(*_BLACK)


def _body(pdf: _LetterPDF) -> None:
    c = pdf.content
    two = len(c.partners) == 2
    pdf.set_xy(LEFT, 97.0)
    _paragraph(pdf, SUBJECT, bold=True, size=11.0, lh=5.5)
    pdf.ln(3.5)
    _paragraph(pdf, "Guten Tag,")
    pdf.ln(1.5)
    number = "Ihre Geschäftspartner-Nummern Netz" if two else "Ihre Geschäftspartner-Nr. Netz"
    _paragraph(
        pdf,
        f"Sie haben für Ihr intelligentes Messsystem den Zugang zum Online-Kundenportal der "
        f"{c.operator_name} beantragt. Aus Sicherheitsgründen senden wir Ihnen {number} "
        "per Post. Zusammen mit Ihrer Zählernummer richten Sie damit Ihren Zugang ein.",
    )
    pdf.ln(3.0)
    _draw_data_box(pdf)
    _draw_steps(pdf)
    _draw_qr_blocks(pdf)
    _draw_security_note(pdf)
    _draw_closing(pdf)


def render_letter(content: LetterContent) -> bytes:
    """Render the access-data letter as PDF bytes (DIN 5008 Form B, A4, fonts embedded)."""
    validate_content(content)
    pdf = _LetterPDF(content)
    _load_fonts(pdf)
    pdf.set_margins(LEFT, BOTTOM_MARGIN, PAGE_W - RIGHT)
    pdf.set_auto_page_break(True, margin=BOTTOM_MARGIN)
    pdf.c_margin = 0.0
    # Metadata: generic title and the operator only, never customer data.
    pdf.set_title(SUBJECT)
    pdf.set_author(content.operator_name)
    pdf.set_creator("Plusportal")
    pdf.set_lang("de-DE")
    pdf.set_creation_date(datetime.datetime.combine(content.letter_date, datetime.time(8, 0), tzinfo=datetime.UTC))
    pdf.add_page()
    _draw_letterhead(pdf)
    _draw_address(pdf)
    _draw_info_block(pdf)
    _body(pdf)
    return bytes(pdf.output())
