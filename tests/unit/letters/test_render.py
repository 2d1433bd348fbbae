"""Behaviour of the access-data letter renderer, read back from the produced PDF."""

from __future__ import annotations

import dataclasses
import datetime
import io
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pdfplumber
import pytest
import segno
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

from services.letters.domain import LetterContent, PartnerLine
from services.letters.letter_pdf import fit_address_lines, render_letter

PT = 25.4 / 72  # mm per PDF point
EPS = 0.01  # mm

# DIN 5008 Form B address zone (below return-address line and note zone) ...
DIN_X0, DIN_X1, DIN_TOP, DIN_BOTTOM = 20.0, 105.0, 45.0 + 5.0 + 12.7, 90.0
# ... and the print house's scan box.
SCAN_X0, SCAN_X1, SCAN_TOP, SCAN_BOTTOM = 22.0, 22.0 + 85.5, 60.0, 60.0 + 25.5
# Return-address line: first 5 mm of the address field.
RET_X0, RET_X1, RET_TOP, RET_BOTTOM = 20.0, 105.0, 45.0, 50.0

PORTAL = "https://000328.plusportal.de"
METER = "1EMH0005939068"


def link(partner: str) -> str:
    return f"{PORTAL}/zugang#zaehler={METER}&partner={partner}"


CONSUMPTION = PartnerLine("3236513735", "consumption", link("3236513735"))
FEED_IN = PartnerLine("5344863893", "feed_in", link("5344863893"))

LONG_ADDRESS = (
    "Dr. Maximilian Alexander Freiherr von und zu Mustermann-Schnarrenberger-Leutheusser",
    "c/o Hausverwaltung Immobilien Großunternehmen Beispiel GmbH & Co. KG",
    "Wohnung 12, 3. OG links, Hinterhaus",
    "Hauptstraße 123a",
    "12345 Musterstadt-Nord",
    "DEUTSCHLAND",
)


def make_content(**overrides: Any) -> LetterContent:
    content = LetterContent(
        operator_name="Stadtwerke Musterstadt Netz GmbH",
        letterhead=("Musterstraße 1", "12345 Musterstadt", "www.swm-netz.de"),
        return_address="SWM Netz GmbH · Postfach 10 01 01 · 12345 Musterstadt",
        primary_color="#00587c",
        service_phone="0800 123 456 7",
        service_email="portal@swm-netz.de",
        service_hours="Mo–Fr 8–18 Uhr",
        recipient_lines=("Frau Erika Mustermann", "Hauptstraße 5", "12345 Musterstadt"),
        letter_date=datetime.date(2025, 3, 12),
        reference="ZG-2025-000123",
        meter_number=METER,
        portal_url=PORTAL,
        partners=(CONSUMPTION,),
    )
    return dataclasses.replace(content, **overrides)


def mm(points: float) -> float:
    return points * PT


@pytest.fixture(scope="module")
def one_partner_pdf() -> bytes:
    return render_letter(make_content())


@pytest.fixture(scope="module")
def two_partner_pdf() -> bytes:
    return render_letter(make_content(partners=(CONSUMPTION, FEED_IN)))


@pytest.fixture(scope="module")
def long_address_pdf() -> bytes:
    return render_letter(make_content(recipient_lines=LONG_ADDRESS, partners=(CONSUMPTION, FEED_IN)))


# --------------------------------------------------------------------------- helpers


def address_region(pdf_bytes: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (return-address chars, recipient lines) from the left part of the address area.

    Everything printed left of the information block between the top of the address field
    and the subject line counts, so a character that escapes the window is caught too.
    """
    with pdfplumber.open(io.BytesIO(pdf_bytes)) as doc:
        page = doc.pages[0]

        def in_area(obj: dict[str, Any]) -> bool:
            return obj.get("object_type") == "char" and mm(obj["x0"]) < 118.0 and 40.0 < mm(obj["top"]) < 95.0

        area = page.filter(in_area)
        chars = list(area.chars)
        ret = [c for c in chars if mm(c["bottom"]) < DIN_TOP]
        rec_area = area.filter(lambda o: mm(o["bottom"]) >= DIN_TOP)
        lines = rec_area.extract_text_lines(strip=True, return_chars=True)
        return ret, lines


def assert_inside(obj: dict[str, Any], x0: float, x1: float, top: float, bottom: float) -> None:
    assert mm(obj["x0"]) >= x0 - EPS, obj
    assert mm(obj["x1"]) <= x1 + EPS, obj
    assert mm(obj["top"]) >= top - EPS, obj
    assert mm(obj["bottom"]) <= bottom + EPS, obj


def recipient_lines_of(pdf_bytes: bytes) -> list[str]:
    _, lines = address_region(pdf_bytes)
    return [line["text"] for line in lines]


def page_texts(pdf_bytes: bytes) -> list[str]:
    with pdfplumber.open(io.BytesIO(pdf_bytes)) as doc:
        return [page.extract_text() or "" for page in doc.pages]


def link_uris(pdf_bytes: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    uris: list[str] = []
    for page in reader.pages:
        for ref in page.get("/Annots") or []:
            annot = ref.get_object()
            if annot.get("/Subtype") == "/Link" and "/A" in annot:
                action = annot["/A"].get_object()
                assert action["/S"] == "/URI"
                uris.append(str(action["/URI"]))
    return uris


def iter_fonts(pdf_bytes: bytes) -> Iterator[DictionaryObject]:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    for page in reader.pages:
        resources = page["/Resources"].get_object()
        assert isinstance(resources, DictionaryObject)
        fonts = resources.get("/Font")
        if fonts is None:
            continue
        font_dict = fonts.get_object()
        assert isinstance(font_dict, DictionaryObject)
        for ref in font_dict.values():
            font = ref.get_object()
            assert isinstance(font, DictionaryObject)
            yield font


def qr_matrices(pdf_bytes: bytes) -> list[list[list[bool]]]:
    """Rebuild the QR module matrices from the black filled rectangles on page 1."""

    def is_black(color: Any) -> bool:
        values = color if isinstance(color, (tuple, list)) else (color,)
        return len(values) in (1, 3) and all(v == 0 for v in values)

    with pdfplumber.open(io.BytesIO(pdf_bytes)) as doc:
        rects = [r for r in doc.pages[0].rects if r["fill"] and is_black(r["non_stroking_color"])]
    # Cluster side-by-side codes by horizontal extent.
    rects.sort(key=lambda r: r["x0"])
    clusters: list[list[dict[str, Any]]] = []
    right = -1e9
    for r in rects:
        if clusters and r["x0"] <= right + 1.0:
            clusters[-1].append(r)
            right = max(right, r["x1"])
        else:
            clusters.append([r])
            right = r["x1"]
    matrices = []
    for cluster in clusters:
        x0 = min(r["x0"] for r in cluster)
        x1 = max(r["x1"] for r in cluster)
        top = min(r["top"] for r in cluster)
        bottom = max(r["bottom"] for r in cluster)
        assert abs((x1 - x0) - (bottom - top)) < 0.5, "QR code is not square"
        # Finder pattern: the first dark run of the top row is 7 modules wide.
        first_row = sorted((r for r in cluster if abs(r["top"] - top) < 0.01), key=lambda r: r["x0"])
        module = first_row[0]["width"] / 7
        n = round((x1 - x0) / module)
        grid = [[False] * n for _ in range(n)]
        for r in cluster:
            c0, c1 = round((r["x0"] - x0) / module), round((r["x1"] - x0) / module)
            r0, r1 = round((r["top"] - top) / module), round((r["bottom"] - top) / module)
            for row in range(r0, r1):
                for col in range(c0, c1):
                    grid[row][col] = True
        matrices.append(grid)
    return matrices


def segno_matrices(data: str) -> list[list[list[bool]]]:
    out = []
    for error in "lmqh":
        qr = segno.make_qr(data, error=error, boost_error=False)
        out.append([[bool(v) for v in row] for row in qr.matrix])
    return out


# --------------------------------------------------------------------------- tests


def test_result_is_a_single_page_pdf(one_partner_pdf: bytes, two_partner_pdf: bytes) -> None:
    for pdf in (one_partner_pdf, two_partner_pdf):
        assert pdf.startswith(b"%PDF")
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


@pytest.mark.parametrize("fixture", ["one_partner_pdf", "two_partner_pdf"])
def test_recipient_lines_lie_in_din_window_and_scan_box(fixture: str, request: pytest.FixtureRequest) -> None:
    pdf: bytes = request.getfixturevalue(fixture)
    _, lines = address_region(pdf)
    assert [line["text"] for line in lines] == ["Frau Erika Mustermann", "Hauptstraße 5", "12345 Musterstadt"]
    fonts = set()
    for line in lines:
        for char in line["chars"]:
            assert_inside(char, DIN_X0, DIN_X1, DIN_TOP, DIN_BOTTOM)
            assert_inside(char, SCAN_X0, SCAN_X1, SCAN_TOP, SCAN_BOTTOM)
            fonts.add((char["fontname"], round(char["size"], 2)))
    assert len(fonts) == 1, "the address zone uses one font and size"
    # Top aligned at the start of the address zone, left aligned.
    assert mm(lines[0]["top"]) < DIN_TOP + 2.0
    assert len({round(line["x0"], 2) for line in lines}) == 1


def test_return_address_in_first_5mm_of_address_field(one_partner_pdf: bytes) -> None:
    ret, _ = address_region(one_partner_pdf)
    assert "".join(c["text"] for c in ret) == "SWM Netz GmbH · Postfach 10 01 01 · 12345 Musterstadt"
    for char in ret:
        assert_inside(char, RET_X0, RET_X1, RET_TOP, RET_BOTTOM)
        assert char["size"] <= 8.0


def test_six_line_address_with_very_long_name_stays_in_window(long_address_pdf: bytes) -> None:
    _, lines = address_region(long_address_pdf)
    texts = [line["text"] for line in lines]
    assert len(texts) == 6
    for line in lines:
        for char in line["chars"]:
            assert_inside(char, DIN_X0, DIN_X1, DIN_TOP, DIN_BOTTOM)
            assert_inside(char, SCAN_X0, SCAN_X1, SCAN_TOP, SCAN_BOTTOM)
    # Overlong lines are cut, the delivery-relevant lines stay intact.
    assert texts[0].startswith("Dr. Maximilian Alexander") and texts[0].endswith("…")
    assert texts[1].startswith("c/o Hausverwaltung") and texts[1].endswith("…")
    assert texts[3:] == ["Hauptstraße 123a", "12345 Musterstadt-Nord", "DEUTSCHLAND"]
    assert len(PdfReader(io.BytesIO(long_address_pdf)).pages) == 1


def test_long_name_wraps_when_the_window_has_room() -> None:
    pdf = render_letter(make_content(recipient_lines=(LONG_ADDRESS[0], "Hauptstraße 5", "12345 Musterstadt")))
    _, lines = address_region(pdf)
    texts = [line["text"] for line in lines]
    assert " ".join(texts[:-2]).replace("…", "") in LONG_ADDRESS[0]
    assert "".join(texts[:-2]).replace(" ", "") == LONG_ADDRESS[0].replace(" ", "")
    assert texts[-2:] == ["Hauptstraße 5", "12345 Musterstadt"]
    for line in lines:
        for char in line["chars"]:
            assert_inside(char, SCAN_X0, SCAN_X1, SCAN_TOP, SCAN_BOTTOM)


def test_blank_recipient_lines_are_dropped() -> None:
    pdf = render_letter(make_content(recipient_lines=("Frau Erika Mustermann", "  ", "Hauptstraße 5", "12345 X")))
    assert recipient_lines_of(pdf) == ["Frau Erika Mustermann", "Hauptstraße 5", "12345 X"]


@pytest.mark.parametrize(
    ("fixture", "partners"),
    [("one_partner_pdf", (CONSUMPTION,)), ("two_partner_pdf", (CONSUMPTION, FEED_IN))],
)
def test_partner_numbers_roles_and_meter_number_appear(
    fixture: str, partners: tuple[PartnerLine, ...], request: pytest.FixtureRequest
) -> None:
    pdf: bytes = request.getfixturevalue(fixture)
    text = page_texts(pdf)[0]
    lines = text.splitlines()
    assert any(METER in line and "Zählernummer" in line for line in lines)
    roles = {"consumption": "Bezug (Verbrauch)", "feed_in": "Einspeisung"}
    for p in partners:
        assert any(p.partner_number in line and roles[p.role] in line for line in lines), p
    assert "Geschäftspartner-Nr. Netz" in text
    assert f"{PORTAL}/zugang" in text
    assert "Ihre Zugangsdaten für das Kundenportal" in text
    assert "Guten Tag," in text
    assert "Freundliche Grüße" in text
    assert "ohne Unterschrift gültig" in text
    assert "0800 123 456 7" in text
    assert "ZG-2025-000123" in text
    assert "12.03.2025" in text
    if len(partners) == 1:
        assert "5344863893" not in text
        assert "Einspeisung" not in text
        assert "Wiederholen Sie die Schritte 2 und 3" not in text
    else:
        assert "Wiederholen Sie die Schritte 2 und 3" in " ".join(lines)


@pytest.mark.parametrize(
    ("fixture", "partners"),
    [("one_partner_pdf", (CONSUMPTION,)), ("two_partner_pdf", (CONSUMPTION, FEED_IN))],
)
def test_link_annotations_are_the_access_links(
    fixture: str, partners: tuple[PartnerLine, ...], request: pytest.FixtureRequest
) -> None:
    pdf: bytes = request.getfixturevalue(fixture)
    uris = link_uris(pdf)
    assert uris, "no link annotations"
    assert set(uris) == {p.access_link for p in partners}
    for uri in uris:
        parts = urlsplit(uri)
        assert parts.query == ""
        assert METER in parts.fragment
        assert METER not in parts.path and "partner" not in parts.path
    for p in partners:
        assert p.partner_number in urlsplit(p.access_link).fragment


@pytest.mark.parametrize(
    ("fixture", "partners"),
    [("one_partner_pdf", (CONSUMPTION,)), ("two_partner_pdf", (CONSUMPTION, FEED_IN))],
)
def test_qr_codes_encode_the_access_links(
    fixture: str, partners: tuple[PartnerLine, ...], request: pytest.FixtureRequest
) -> None:
    pdf: bytes = request.getfixturevalue(fixture)
    found = qr_matrices(pdf)
    assert len(found) == len(partners)
    for matrix, partner in zip(found, partners, strict=True):
        assert matrix in segno_matrices(partner.access_link)


@pytest.mark.parametrize("fixture", ["one_partner_pdf", "two_partner_pdf", "long_address_pdf"])
def test_every_font_is_embedded(fixture: str, request: pytest.FixtureRequest) -> None:
    pdf: bytes = request.getfixturevalue(fixture)
    fonts = list(iter_fonts(pdf))
    assert fonts
    for font in fonts:
        if font["/Subtype"] == "/Type0":
            descendants = font["/DescendantFonts"].get_object()
            assert isinstance(descendants, ArrayObject)
            targets = [d.get_object() for d in descendants]
        else:
            targets = [font]
        for target in targets:
            descriptor = target["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor or "/FontFile3" in descriptor, font["/BaseFont"]


def test_metadata_names_operator_but_no_customer_data(two_partner_pdf: bytes) -> None:
    meta = PdfReader(io.BytesIO(two_partner_pdf)).metadata
    assert meta is not None
    assert meta.title == "Ihre Zugangsdaten für das Kundenportal"
    assert meta.author == "Stadtwerke Musterstadt Netz GmbH"
    blob = " ".join(str(v) for v in meta.values())
    for secret in ("Mustermann", "Hauptstraße", "3236513735", "5344863893", METER, "zaehler", "ZG-2025"):
        assert secret not in blob


def test_rendering_is_deterministic() -> None:
    content = make_content(partners=(CONSUMPTION, FEED_IN))
    assert render_letter(content) == render_letter(content)


def test_long_but_realistic_values_still_fit_one_page() -> None:
    content = make_content(
        operator_name="Stadtwerke Musterstadt Energienetze und Versorgung GmbH & Co. KG",
        letterhead=(
            "Netzservice",
            "Musterstraße 100–102",
            "12345 Musterstadt",
            "www.swm-netz.de",
            "Sitz Musterstadt, HRB 12345",
        ),
        service_email="kundenportal-netzanschluss@stadtwerke-musterstadt-netz.de",
        service_hours="Montag bis Donnerstag 8–18 Uhr, Freitag 8–14 Uhr",
        recipient_lines=LONG_ADDRESS,
        partners=(CONSUMPTION, FEED_IN),
    )
    pdf = render_letter(content)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    _, lines = address_region(pdf)
    for line in lines:
        for char in line["chars"]:
            assert_inside(char, SCAN_X0, SCAN_X1, SCAN_TOP, SCAN_BOTTOM)
    # The information block stays in its 75 mm column from x = 125 mm.
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        for char in page.chars:
            if mm(char["x0"]) >= 120.0:
                assert mm(char["x1"]) <= 200.0 + EPS


def test_overflow_goes_to_a_second_page_but_the_address_stays_on_the_first() -> None:
    operator = "Netzbetreiber " + " ".join(["Mustergesellschaft"] * 60) + " GmbH"
    pdf = render_letter(make_content(operator_name=operator, partners=(CONSUMPTION, FEED_IN)))
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 2
    assert recipient_lines_of(pdf) == ["Frau Erika Mustermann", "Hauptstraße 5", "12345 Musterstadt"]
    assert set(link_uris(pdf)) == {CONSUMPTION.access_link, FEED_IN.access_link}
    assert "Freundliche Grüße" in page_texts(pdf)[-1]


def test_unsupported_characters_are_replaced_without_logging(caplog: pytest.LogCaptureFixture) -> None:
    content = make_content(recipient_lines=("李小龙 Mustermann", "Hauptstraße 5", "12345 Musterstadt"))
    with caplog.at_level(logging.DEBUG):
        pdf = render_letter(content)
        records = list(caplog.records)
    assert recipient_lines_of(pdf)[0] == "??? Mustermann"
    for record in records:
        message = record.getMessage()
        assert record.levelno < logging.WARNING, message
        for secret in ("Mustermann", "3236513735", METER):
            assert secret not in message


@pytest.mark.parametrize(
    "overrides",
    [
        {"partners": ()},
        {"partners": (CONSUMPTION, FEED_IN, CONSUMPTION)},
        {"recipient_lines": ()},
        {"recipient_lines": ("a", "b", "c", "d", "e", "f", "g")},
        {"primary_color": "blue"},
        {"partners": (PartnerLine("3236513735", "consumption", f"{PORTAL}/zugang?partner=3236513735"),)},
        {"partners": (PartnerLine("3236513735", "consumption", "javascript:alert(1)#partner=3236513735"),)},
    ],
)
def test_invalid_content_is_rejected_without_echoing_it(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as excinfo:
        render_letter(make_content(**overrides))
    assert "3236513735" not in str(excinfo.value)


def test_fit_address_lines_wraps_into_spare_lines_then_truncates() -> None:
    def width(s: str) -> float:
        return float(len(s))

    assert fit_address_lines(["aaa bbb ccc", "x"], width, 7) == ["aaa bbb", "ccc", "x"]
    assert fit_address_lines(["aaa bbb ccc", "x"], width, 7, max_lines=2) == ["aaa bb…", "x"]
    assert fit_address_lines(["abcdefghij"], width, 4, max_lines=2) == ["abcd", "efg…"]
    lines = ["l1", "l2", "l3", "l4", "l5", "a very long last line"]
    fitted = fit_address_lines(lines, width, 10)
    assert len(fitted) == 6 and all(width(line) <= 10 for line in fitted)
