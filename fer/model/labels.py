"""The seven FER2013 classes, in the one canonical order used everywhere.

FER2013 exists in two orders: the original CSV's integer codes
(angry, disgust, fear, happy, sad, surprise, neutral) and the Kaggle folder layout's
alphabetical order. We keep the alphabetical order as canonical because it is what
every folder-based source (and a human reading a confusion matrix) sees, and map the
CSV's codes onto it here, in one place.
"""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(CLASS_NAMES)

# FER2013 faces are FACE_SIZE x FACE_SIZE grayscale: every source is decoded (and every
# detected face cropped) to this size.
FACE_SIZE = 48

# fer2013.csv `emotion` code -> canonical index.
CSV_CODE_TO_INDEX: dict[int, int] = {
    code: CLASS_NAMES.index(name)
    for code, name in enumerate(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
}

# Folder names seen in the wild (other FER data sets, re-packagings of FER2013) that mean
# one of our classes. Matched case-insensitively.
CLASS_ALIASES: dict[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "neutrality": "neutral",
}


def class_index(folder_name: str) -> int:
    """Map a class folder name (any case, or a known alias) to its canonical index.

    Raises ValueError naming the folder and the accepted names, so a user whose data set
    has an extra class (e.g. 'contempt') sees at once which folder is the problem.
    """
    key = folder_name.strip().lower()
    key = CLASS_ALIASES.get(key, key)
    if key not in CLASS_NAMES:
        raise ValueError(
            f"class folder {folder_name!r} is not one of the 7 FER classes "
            f"({', '.join(CLASS_NAMES)}) or a known alias ({', '.join(sorted(CLASS_ALIASES))})"
        )
    return CLASS_NAMES.index(key)


def display_name(label: str) -> str:
    """Human-facing form of a label ('happy' -> 'Happy')."""
    return label.capitalize()
