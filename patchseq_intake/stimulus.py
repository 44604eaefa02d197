"""Stimulus codes and names: MIES' ``stimulus_description`` -> IPFX's ontology names."""

from __future__ import annotations

import re

UNKNOWN = "Unknown"

# (pattern on the stimulus code, name) in order of precedence; patterns are full matches.
_NAMES: tuple[tuple[str, str], ...] = (
    (r"X1PS_SubThresh|X3LP_Rheo|X4PS_SupraThresh|C1LSCOARSE.*|C1LSFINEST.*", "Long Square"),
    (r"X6SP_Rheo|C1SSCOARSE.*|C1SSFINEST.*", "Short Square"),
    (r"X2LP_Search|X5SP_Search", "Search"),
    (r"X7Ramp|C1RP25PR1S141203", "Ramp"),
    (r"EXTP.*|NucVC.*", "Test"),
    (r"C1SQCAPCHK141203", "Square - 0.5ms Subthreshold"),
    (r"C2CHIRP180503", "Chirp"),
)
_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), name) for pattern, name in _NAMES)
_CHANNEL_SUFFIX = "_DA_0"


def stimulus_code(stimulus_description: str) -> str:
    """IPFX's code of a stimset name: ``X1PS_SubThresh_DA_0`` -> ``X1PS_SubThresh``.

    Exactly a final ``_DA_0`` is removed (MIES' name for the first DA stimset),
    then anything from ``[``.
    """
    return stimulus_description.removesuffix(_CHANNEL_SUFFIX).split("[", 1)[0]


def stimulus_name(code: str) -> str:
    """The ontology name of a stimulus code, e.g. ``Long Square``; ``Unknown`` if none."""
    for pattern, name in _COMPILED:
        if pattern.fullmatch(code):
            return name
    return UNKNOWN
