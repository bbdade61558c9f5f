"""Plate normalisation and the OCR confusion key against literal answers: every confusion group
folds, nothing else does, and only ASCII letters and digits are kept."""

import string

import pytest

from events.reads import OCR_CONFUSION_GROUPS, plate_confusion_key, plate_normalize


def test_the_confusion_key_of_every_confusable_character():
    assert plate_confusion_key("0ODQ1IL2Z5S8B6G") == "000011122558866"


@pytest.mark.parametrize(
    ("plate", "key"),
    [
        ("0ODQ", "0000"),
        ("1IL", "111"),
        ("2Z", "22"),
        ("5S", "55"),
        ("8B", "88"),
        ("6G", "66"),
        ("8ABC123", "8A8C123"),  # docs/api.md's example: both fold to one key
        ("BA8C123", "8A8C123"),
        (" ab-12 cde ", "A812C0E"),
    ],
)
def test_each_group_folds_to_its_first_character(plate, key):
    assert plate_confusion_key(plate) == key


def test_characters_outside_the_groups_are_kept():
    kept = "ACEFHJKMNPRTUVWXY34679"
    assert plate_confusion_key(kept) == kept
    folded = set("".join(OCR_CONFUSION_GROUPS))
    assert set(kept) | folded == set(string.ascii_uppercase + string.digits)


def test_the_groups_are_the_documented_ones():
    assert OCR_CONFUSION_GROUPS == ("0ODQ", "1IL", "2Z", "5S", "8B", "6G")


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        (" ab-12 cde ", "AB12CDE"),
        ("AB12CDE", "AB12CDE"),
        ("m\u00fcnchen 12", "MNCHEN12"),  # a letter with a diaeresis is not an ASCII letter
        ("\u0661\u0662\u0663AB", "AB"),  # Arabic-Indic digits
        ("\uff21\uff22\uff11\uff12", ""),  # fullwidth letters and digits
        ("\u00b2\u2167X9", "X9"),  # superscript two, Roman numeral eight
        ("\u0410\u0412\u0421 123", "123"),  # Cyrillic capitals that look like A, B, C
        ("", ""),
        ("--- ...", ""),
    ],
)
def test_only_ascii_letters_and_digits_are_kept(raw, plate):
    assert plate_normalize(raw) == plate
    assert plate_confusion_key(raw) == plate_confusion_key(plate)


def test_the_key_of_non_ascii_look_alikes_is_not_the_latin_key():
    assert plate_confusion_key("\u0410\u0412\u0421123") == "123"
    assert plate_confusion_key("\uff10\uff2f") == ""
