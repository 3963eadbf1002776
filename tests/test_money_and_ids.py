from datetime import date

import pytest

from domain.errors import InvalidInput
from domain.idnumber import mask, parse_resident_id
from domain.money import parse_yuan, yuan


@pytest.mark.parametrize(
    "value, fen",
    [("280.00", 28000), ("84", 8400), (84, 8400), (84.5, 8450), ("0.01", 1), ("196.5", 19650), (" 12.30 ", 1230)],
)
def test_yuan_to_fen(value, fen):
    assert parse_yuan(value) == fen


@pytest.mark.parametrize(
    "value, rule",
    [
        ("280.001", "money_two_decimals"),
        (280.001, "money_two_decimals"),
        ("-5", "money_positive"),
        (-5, "money_positive"),
        ("0", "money_positive"),
        ("abc", "money"),
        (True, "money"),
        (None, "money"),
        ("1e3", "money"),  # an exponent is not "too many decimals": the message must say what is wrong
        ("99999999999999", "money_range"),
        (1e20, "money"),
        ("１００.００", "money"),  # full-width digits
        ("٨٤", "money"),  # Arabic-Indic digits
        ("8 4", "money"),
    ],
)
def test_bad_money_names_the_rule(value, rule):
    with pytest.raises(InvalidInput) as e:
        parse_yuan(value, "amount")
    assert e.value.field == "amount" and e.value.rule == rule


def test_fen_to_yuan_string():
    assert [yuan(28000), yuan(1), yuan(0), yuan(19650)] == ["280.00", "0.01", "0.00", "196.50"]


@pytest.mark.parametrize(
    "number, born, sex",
    [("11010519491231002X", date(1949, 12, 31), "female"), ("440524188001010014", date(1880, 1, 1), "male")],
)
def test_spec_examples_check(number, born, sex):
    rid = parse_resident_id(number)
    assert (rid.number, rid.birth_date, rid.sex) == (number, born, sex)


def test_lower_case_x_is_stored_upper_case():
    assert parse_resident_id("11010519491231002x").number == "11010519491231002X"


@pytest.mark.parametrize(
    "number, rule",
    [
        ("110105194912310021", "id_number_checksum"),
        ("11010519491231002", "id_number_length"),
        ("1101051949123100211", "id_number_length"),
        ("110105194902300029", "id_number_birth_date"),  # 30 February
        ("11010519491231A02X", "id_number_characters"),
    ],
)
def test_bad_identity_numbers(number, rule):
    with pytest.raises(InvalidInput) as e:
        parse_resident_id(number)
    assert e.value.field == "id_number" and e.value.rule == rule


def test_mask_shows_first_six_and_last_four():
    assert mask("11010519491231002X") == "110105********002X"
