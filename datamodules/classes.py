"""The seven DCASE 2023 Task 7 classes, in the challenge's index order, and the rule that turns a
dataset's class-folder names into its class list (`resolve_class_names`)."""

from __future__ import annotations

from collections.abc import Iterable

CLASS_NAMES: tuple[str, ...] = (
    "DogBark",
    "Footstep",
    "GunShot",
    "Keyboard",
    "MovingMotorVehicle",
    "Rain",
    "Sneeze_Cough",
)

# Evaluation / Zenodo folder names (snake_case), same order.
SNAKE_NAMES: tuple[str, ...] = (
    "dog_bark",
    "footstep",
    "gunshot",
    "keyboard",
    "moving_motor_vehicle",
    "rain",
    "sneeze_cough",
)

CAMEL_TO_SNAKE: dict[str, str] = dict(zip(CLASS_NAMES, SNAKE_NAMES, strict=True))
SNAKE_TO_CAMEL: dict[str, str] = dict(zip(SNAKE_NAMES, CLASS_NAMES, strict=True))
NUM_CLASSES = len(CLASS_NAMES)


def class_index(name: str) -> int:
    """Index of a class given its CamelCase or snake_case folder name."""
    camel = SNAKE_TO_CAMEL.get(name, name)
    if camel not in CLASS_NAMES:
        raise ValueError(
            f"unknown class folder {name!r}: expected one of {list(CLASS_NAMES)} "
            f"or {list(SNAKE_NAMES)}; rename the folder or remove it from the dataset root"
        )
    return CLASS_NAMES.index(camel)


def dcase_name(name: str) -> str | None:
    """The CamelCase DCASE name of a folder or class name in either spelling; None otherwise."""
    camel = SNAKE_TO_CAMEL.get(name, name)
    return camel if camel in CLASS_NAMES else None


def same_class(a: str, b: str) -> bool:
    """True for equal names and for the two spellings of a DCASE class (`DogBark`, `dog_bark`)."""
    if a == b:
        return True
    camel = dcase_name(a)
    return camel is not None and camel == dcase_name(b)


def resolve_class_names(names: Iterable[str]) -> list[str]:
    """The class list of a set of class-folder names.

    All names DCASE classes (either spelling): their CamelCase names in DCASE index order, so the
    development set gives exactly `CLASS_NAMES`. Anything else (a mix included): the names as
    given, sorted (Python string order: upper case before lower case).
    """
    names = list(names)
    camel = [dcase_name(n) for n in names]
    if names and all(c is not None for c in camel):
        return [c for c in CLASS_NAMES if c in camel]
    return sorted(names)
