"""The demo's master data and the tests' own use partner numbers as a billing system should make them
([6 of 11] §2): the partner number is a credential, so none may tell another by counting up or down."""

from itertools import combinations

from backoffice.masterdata_import import read_meter_points
from stack import demo
from tests.journeys import random_partner_numbers

# Further apart than anyone would count from a known number: not neighbours, not a short walk away.
FAR_APART = 10**6


def _demo_partner_numbers() -> dict[tuple[str, str], str]:
    """(operator, name of record) and role → partner number, every demo file."""
    return {
        (tenant, f"{partner.name} {partner.role}"): partner.partner_number
        for tenant, path in demo.demo_files()
        for point in read_meter_points(path)
        for partner in point.partners
    }


def test_no_two_demo_partner_numbers_are_neighbours() -> None:
    numbers = list(_demo_partner_numbers().values())
    assert len(numbers) >= 6
    assert all(len(n) == 10 and not n.startswith("0") for n in numbers)
    for a, b in combinations(numbers, 2):
        assert abs(int(a) - int(b)) > FAR_APART, (a, b)


def test_the_walk_through_names_the_demo_files_numbers() -> None:
    numbers = _demo_partner_numbers()
    assert numbers[(demo.DEMO_TENANT, "Erika Mustermann consumption")] == demo.DEMO_PARTNER
    assert (
        numbers[(demo.DEMO_TENANT, "Max Solar consumption")],
        numbers[(demo.DEMO_TENANT, "Max Solar feed_in")],
    ) == demo.DEMO_SOLAR_PARTNERS


def test_the_tests_partner_numbers_are_never_neighbours() -> None:
    for _ in range(200):
        first, second, third = (int(n) for n in random_partner_numbers(3))
        assert min(abs(first - second), abs(first - third), abs(second - third)) > 1
