"""The seven DCASE 2023 Task 7 classes, in the challenge's index order."""

from __future__ import annotations

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
