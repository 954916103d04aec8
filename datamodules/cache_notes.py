"""What the cache build adapted without complaint: resampled, downmixed, padded and cut files.

None of these is an error (the clip is read as the contract wants it); each note names the
files, how many, and what to do if the adaptation is not wanted. Read from a cache index, so a
reused cache reports the same notes as the build that made it.
"""

from __future__ import annotations


def _listing(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown}, and {more} more (see 'files' in the index)" if more > 0 else shown


def audio_notes(index: dict, limit: int = 5) -> list[str]:
    """One line per kind of adaptation found in the cache index `index` (none: [])."""
    rate = int(index["mel_params"]["sample_rate"])
    num_samples = int(index["num_samples"])
    seconds = num_samples / rate
    resampled, downmixed, padded, cut = [], [], [], []
    for row in index["files"]:
        path, length = row["path"], int(row["length"])
        if int(row["source_rate"]) != rate:
            resampled.append(f"{path} ({row['source_rate']} Hz)")
        if int(row.get("channels", 1)) > 1:
            downmixed.append(f"{path} ({row['channels']} channels)")
        if length < num_samples:
            padded.append(f"{path} ({length / rate:.2f} s)")
        elif length > num_samples:
            cut.append(f"{path} ({length / rate:.2f} s)")
    notes = []
    if resampled:
        notes.append(
            f"resampled {len(resampled)} file(s) to {rate} Hz (soxr_hq): "
            f"{_listing(resampled, limit)}; fix: resample the dataset to {rate} Hz once "
            "beforehand to skip this step"
        )
    if downmixed:
        notes.append(
            f"downmixed {len(downmixed)} multi-channel file(s) to mono (channel mean): "
            f"{_listing(downmixed, limit)}; fix: none needed, unless the channels cancel out "
            "(opposite phase): then export one channel"
        )
    if padded:
        notes.append(
            f"padded {len(padded)} file(s) shorter than {seconds:.2f} s with silence at the "
            f"end: {_listing(padded, limit)}; fix: none needed if silence after the sound is "
            "right for the class, else replace the clip with a longer one"
        )
    if cut:
        notes.append(
            f"cut {len(cut)} file(s) longer than {seconds:.2f} s to their first {seconds:.2f} s: "
            f"{_listing(cut, limit)}; fix: split long recordings into {seconds:.2f} s clips "
            "beforehand to keep the rest"
        )
    return notes
