"""DANDI's metadata of a recording (donor, session, species, sex, age): read from listings and API answers, checked."""

from __future__ import annotations

import math

import pytest

from patchseq_intake.dandi import answers
from patchseq_intake.dandi.assets import Asset, AssetIndex, _read_index, _save, read_listing_with_recordings
from patchseq_intake.dandi.recordings import Recording
from patchseq_intake.errors import ServerAnswerError, TableFormatError

SHA = "ab" * 32
UUID_1, UUID_2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


@pytest.mark.parametrize(("age", "days"), [("P7300.0D", 7300.0), ("P41.0Y", 41 * 365.25), ("P3W", 21.0),
                                           ("P6M", 365.25 / 2), ("41 years", math.nan), (None, math.nan),
                                           ("P0.0D", math.nan)])  # DANDI's placeholder in the Allen listings
def test_an_iso_8601_age_in_days(age, days):
    found = Recording(age=age).age_days
    assert (math.isnan(found) and math.isnan(days)) or found == days


@pytest.mark.parametrize(("dandi", "binomial"), [("Human", "Homo sapiens"), ("Homo sapiens - Human", "Homo sapiens"),
                                                 ("Macaca nemestrina - Pigtail macaque", "Macaca nemestrina"),
                                                 ("Macaca nemestrina", "Macaca nemestrina"),
                                                 ("Mus musculus - House mouse", "Mus musculus"),
                                                 ("Rattus norvegicus", "Rattus norvegicus")])
def test_one_spelling_of_each_species(dandi, binomial):
    assert Recording(species=dandi).species_name == binomial  # one it does not know is kept as DANDI spells it


@pytest.mark.parametrize(("identifier", "session"), [("1000781418", 1000781418), ("PLACEHOLDER", None), ("12a", None),
                                                     ("", None)])
def test_the_session_is_the_allen_ephys_session_id_where_there_is_one(identifier, session):
    assert Recording(session_id=identifier).session == session


def _item(**participant):
    return {"path": "sub-1/sub-1_ses-2_icephys.nwb", "metadata": {
        "wasAttributedTo": [{"schemaKey": "Participant", "identifier": "1", **participant}],
        "wasGeneratedBy": [{"schemaKey": "Session", "identifier": "2"}, {"schemaKey": "Activity", "name": "x"}],
    }}


def test_an_api_answers_recording_is_read_where_dandi_puts_it():
    item = _item(species={"name": "Human"}, sex={"name": "Male"}, age={"value": "P30.0Y", "unitText": "ISO-8601"})
    recording = answers.recording_of(item, "http://127.0.0.1:9/api/x", item["path"])
    assert recording == Recording("1", "2", "Human", "Male", "P30.0Y")
    assert answers.recording_of({"path": "a.nwb", "metadata": {}}, "u", "a.nwb") is None


@pytest.mark.parametrize(("participant", "named"), [
    ({"species": {"name": "Human\x00"}}, "wasAttributedTo's species"),
    ({"sex": {"name": "M" * 201}}, "wasAttributedTo's sex"),
    ({"age": {"value": ["P1D"]}}, "wasAttributedTo's age"),
])
def test_a_recording_value_that_is_not_short_text_is_refused_naming_it(participant, named):
    item = _item(**participant)
    with pytest.raises(ServerAnswerError, match=rf"asset 'sub-1/sub-1_ses-2_icephys.nwb' metadata {named} .*, where "
                                                r"DANDI's API gives text of at most 200 characters"):
        answers.recording_of(item, "http://127.0.0.1:9/api/x", item["path"])


def test_a_listing_row_with_an_unsafe_recording_value_is_refused_naming_file_and_line(tmp_path):
    listing = tmp_path / "000630.csv"
    listing.write_text(f"path,size,sha256,blob,subject_id,session_id,sex\nsub-1/a.nwb,10,{SHA},{UUID_2},1,2,Male\n"
                       f"sub-1/b.nwb,10,{SHA},{UUID_2},1,3,\"Ma\nle\"\n")
    with pytest.raises(TableFormatError, match=r"000630.csv, line 4: sex 'Ma\\nle': not text of at most 200"):
        read_listing_with_recordings(listing)


def test_a_cached_index_keeps_its_recordings(tmp_path):
    index = AssetIndex("http://127.0.0.1:9/api", "000630", "0.230915.2257", None,
                       {"sub-1/a.nwb": Asset("sub-1/a.nwb", UUID_1, UUID_2, 10, SHA)},
                       {"sub-1/a.nwb": Recording("1", "2", "Human", "Female", "P1D")})
    _save(index, tmp_path / "index.json")
    assert _read_index(tmp_path / "index.json") == index
