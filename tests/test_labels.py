import pytest

from fer.model.labels import CLASS_NAMES, CSV_CODE_TO_INDEX, class_index


def test_canonical_order_is_alphabetical_folder_order():
    assert CLASS_NAMES == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def test_csv_codes_map_onto_canonical_order():
    # fer2013.csv: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral
    assert [CLASS_NAMES[CSV_CODE_TO_INDEX[c]] for c in range(7)] == [
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    ]


@pytest.mark.parametrize(
    "name, expected",
    [("Angry", "angry"), ("HAPPY", "happy"), ("Surprised", "surprise"), ("sadness", "sad"), (" fear ", "fear")],
)
def test_class_names_are_matched_case_insensitively_with_aliases(name, expected):
    assert CLASS_NAMES[class_index(name)] == expected


def test_unknown_class_names_the_folder():
    with pytest.raises(ValueError, match="'contempt' is not one of the 7 FER classes"):
        class_index("contempt")
