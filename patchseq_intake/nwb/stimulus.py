"""Stimulus codes and their names: MIES' ``stimulus_description`` -> IPFX's ontology names.

A stimulus code is named as IPFX 2.1.2 names it: by an exact, case-sensitive
match in its stimulus ontology (``ipfx/defaults/stimulus_ontology.json``,
whose code -> name pairs ``IPFX_NAMES`` lists), ``Unknown`` where it has
none. On top of that, the names FACTS.md gives where IPFX has none: the
families ``C1LSCOARSE*``, ``C1LSFINEST*`` (Long Square), ``C1SSCOARSE*``,
``C1SSFINEST*`` (Short Square), ``EXTP*`` and ``NucVC*`` (Test), whatever
their date suffix, and ``C2CHIRP180503`` (Chirp). ``tests/nwb/test_ipfx_agreement.py``
checks every code of IPFX's ontology against IPFX itself.
"""

from __future__ import annotations

UNKNOWN = "Unknown"
_CHANNEL_SUFFIX = "_DA_0"

IPFX_NAMES: dict[str, tuple[str, ...]] = {
    "Test": (
        "Blip_finder", "Nuc_LS", "Nuc_Leak", "Nuc_Superthresho", "Nuc_VC105", "Nuc_VC140",
        "Nuc_VC35", "Nuc_VC70", "Nuc_VC_0", "Nuc_VC_1", "Nuc_VC_10", "Nuc_VC_2", "Nuc_VC_3",
        "Nuc_VC_4", "Nuc_VC_5", "Nuc_VC_6", "Nuc_VC_LS", "Nuc_VC_LS_Leak", "Nuc_VC_STeps_250",
        "Nuc_VC_Steps", "Nuc_VC_Steps_0ms", "Nuc_VC_Steps_100", "Nuc_VC_Steps_10m",
        "Nuc_VC_Steps_200", "Nuc_VC_Steps_250", "Nuc_VC_Steps_25m", "Nuc_VC_Steps_50m",
        "Nuc_VC_Sus", "Nuc_VC_Sus_Leak", "Nuc_VC_Sustain", "Nuc_VC_prepulse_",
        "Rheobase_finder", "RundownTest", "RundownTestLong", "VCLAMP_RNA_STIM",
    ),
    "Short Square": (
        "C2SSHM60CS", "C2SSHM60CS141203", "C2SSHM60CS150112", "C2SSHM60FN", "C2SSHM60FN141203",
        "C2SSHM60FN150112", "C2SSHM70CS", "C2SSHM70CS150126", "C2SSHM70FN", "C2SSHM70FN150126",
        "C2SSHM80CS", "C2SSHM80CS141203", "C2SSHM80CS150112", "C2SSHM80FN", "C2SSHM80FN141203",
        "C2SSHM80FN150112", "SP_Rheo", "X6SP_Rheo", "shortsquaretemp",
    ),
    "Long Square": (
        "C1LSCRESEP", "C1LSCRESEP170313", "LP_Rheo", "PS_SubThresh", "PS_SupraThresh",
        "Rheo_Supra_backu", "X1PS_SubThresh", "X3LP_Rheo", "X4PS_SupraThresh", "Y3LP_Rheo",
        "Y4PS_SupraThresh", "longsquaretemp", "subthreshold", "subthreshold_171",
    ),
    "Noise 1": (
        "C1NSD1SHORT", "C1NSD1SHORT17110", "C1NSD1SHORT171103", "C1NSSEED", "C1NSSEED_1",
        "C1NSSEED_1141203", "C1NSSEED_1150112", "C1NSSEED_1150216", "C1NSSEED_1150217",
        "C2NSD1SHORT17110",
    ),
    "Ramp to Rheobase": (
        "C2NSRMPRH2", "C2NSRMPRH2150119", "C2NSRMPRH2150120", "C2NSRMPRH2150216",
        "C2NSRMPRH2150217", "C2NSRMPRHE", "C2NSRMPRHE141203", "C2NSRMPRHE150112",
    ),
    "Noise 2": (
        "C1NSD2SHORT17110", "C1NSSEED_2", "C1NSSEED_2141203", "C1NSSEED_2150112",
        "C1NSSEED_2150216", "C1NSSEED_2150217", "C2NSD2SHORT17110",
    ),
    "Search": (
        "LP_Search", "SP_Search", "X2LP_Search", "X5SP_Search", "Y2LP_Search",
    ),
    "Ramp": (
        "C1RP25PR1S", "C1RP25PR1S141203", "Ramp", "X7Ramp",
    ),
    "Short Square - Triple": (
        "C2SSTRIPLE", "C2SSTRIPLE141203", "C2SSTRIPLE150429", "C2SSTRIPLE171103",
    ),
    "Square - 2s Suprathreshold": (
        "C2SQRHELNG", "C2SQRHELNG141203", "C2SQRHELNG150112", "C2SQRHELNG150216",
    ),
    "Chirp A Threshold": (
        "C2CHIRPA", "C2CHIRPA180503",
    ),
    "Square - 0.5ms Subthreshold": (
        "C1SQCAPCHK", "C1SQCAPCHK141203",
    ),
}
"""IPFX 2.1.2's ontology names, by name, apart from the families below."""

FACTS_NAMES = {"C2CHIRP180503": "Chirp"}
"""Codes IPFX leaves Unknown that FACTS.md names."""

FAMILIES: tuple[tuple[str, str], ...] = (
    ("C1LSCOARSE", "Long Square"),
    ("C1LSFINEST", "Long Square"),
    ("C1SSCOARSE", "Short Square"),
    ("C1SSFINEST", "Short Square"),
    ("EXTP", "Test"),
    ("NucVC", "Test"),
)
"""Code prefixes and their names, with any suffix (IPFX's ontology lists some dated ones)."""

_EXACT = {code: name for name, codes in IPFX_NAMES.items() for code in codes} | FACTS_NAMES


def stimulus_code(stimulus_description: str) -> str:
    """IPFX's code of a stimset name: ``X1PS_SubThresh_DA_0`` -> ``X1PS_SubThresh``.

    Exactly a final ``_DA_0`` is removed (MIES' name for the first DA stimset),
    then anything from ``[``.
    """
    return stimulus_description.removesuffix(_CHANNEL_SUFFIX).split("[", 1)[0]


def stimulus_name(code: str) -> str:
    """The name of a stimulus code, e.g. ``Long Square``; ``Unknown`` if none (see the module docstring)."""
    if code in _EXACT:
        return _EXACT[code]
    return next((name for prefix, name in FAMILIES if code.startswith(prefix)), UNKNOWN)
