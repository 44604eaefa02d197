"""fetch_release_files: BIL's and NeMO's files fetched once, taken out of their tars, verified, cached; other
bytes refused unless accepted; interrupted downloads resumed; nothing unverified cached."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import warnings

import pytest

from patchseq_intake import config
from patchseq_intake.archives import fetching
from patchseq_intake.archives.fetching import fetch_release_files
from patchseq_intake.archives.found import Found, folder, matching_path, read_found
from patchseq_intake.archives.homes import Homes
from patchseq_intake.archives.release_files import ReleaseFile
from patchseq_intake.errors import ChecksumError, FetchError, OfflineError, OtherBytesWarning, PackedFileError, ServerAnswerError
from patchseq_intake.testing.archives import tar_bytes as tar_of
from patchseq_intake.testing.server import LocalServer, Reply
from patchseq_intake.transport import download
from patchseq_intake.transport.verified import read_record

BIL_DEAD = "ftp://download.brainlib.org:8811/"
NEMO_DEAD = "http://data.nemoarchive.org/other/grant/AIBS_patchseq/"
RULES = [
    {"archive": "BIL", "dead": BIL_DEAD, "live": ""},
    {"archive": "NEMO", "dead": NEMO_DEAD, "live": "other/AIBS/AIBS_patchseq/", "alternates": [
        {"tail": r"_(count|cpm|exon|intron)\.csv\.tar$", "to": r"_\1.v2.csv.tar",
         "member": r"_(count|cpm|exon|intron)\.csv$", "member_to": r"_\1.v2.csv"}]},
]
SWC = b"# a reconstruction\n1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n" * 50
R1, R2 = os.urandom(60_000), os.urandom(40_000)
STEM = "20200513_Mouse_PatchSeq_Release_cpm"
MATRIX = b"," + b",".join(b"PS%04d" % n for n in range(300)) + b"\n" + b"".join(
    b"Gene%d," % g + b",".join(b"%d.5" % (g * n % 97) for n in range(300)) + b"\n" for g in range(400))
FASTQ_TAR = "transcriptome/scell/SMARTseq/raw/PS0810_E1-50_S88.fastq.tar"
MATRIX_TAR = f"transcriptome/scell/SMARTseq/processed/analysis/20200611/{STEM}.csv.tar"
SWC_PATH = "biccn/zeng/pseq/morph/200526/601506507_transformed.swc"
FAST = download.RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



@pytest.fixture
def server(monkeypatch):
    with LocalServer() as running:
        monkeypatch.setenv(config.BIL_ENV, running.url)
        monkeypatch.setenv(config.NEMO_ENV, running.url)
        monkeypatch.setattr(download, "DEFAULT_RETRY", FAST)
        monkeypatch.setattr(fetching, "_announced", set())
        yield running


def release_file(archive, tail, name, data, file_type, specimen=601506507, size=None):
    homes = Homes.from_catalog(RULES)
    dead = BIL_DEAD if archive == "BIL" else NEMO_DEAD
    technique = "morphology" if archive == "BIL" else "transcriptomics"
    return ReleaseFile(specimen, technique, file_type, name, len(data) if size is None else size, sha(data),
                       archive, dead + tail, homes.locator()(archive, dead + tail, name))


def swc_file():
    return release_file("BIL", SWC_PATH, "601506507_transformed.swc", SWC, "transformed_swc")


def fastq_files():
    return [release_file("NEMO", FASTQ_TAR, "PS0810_E1-50_S88_R1.fastq.gz", R1, "forward_fastq"),
            release_file("NEMO", FASTQ_TAR, "PS0810_E1-50_S88_R2.fastq.gz", R2, "reverse_fastq")]


def matrix_file():
    return release_file("NEMO", MATRIX_TAR, f"{STEM}.csv", MATRIX, "csv", specimen=None)


def only_locks(path):
    """The files under ``path`` other than locks (a lock is no data)."""
    return sorted(p.name for p in path.rglob("*") if p.is_file() and not p.name.endswith(".lock")) if path.exists() else []


def test_a_plain_swc_is_fetched_once_verified_and_then_served_from_the_cache(server):
    server.serve_file(f"/{SWC_PATH}", SWC)
    file = swc_file()
    (got,) = fetch_release_files([file])
    assert got.path == matching_path(file.sha256, file.file_name) and got.path.read_bytes() == SWC
    assert got.found == Found(f"{server.url}/{SWC_PATH}", file.file_name, file.sha256, len(SWC), True)
    assert read_found(file.sha256) == got.found and read_record(got.path).sha256 == file.sha256
    assert [entry.path for entry in server.log] == [f"/{SWC_PATH}"]
    server.log.clear()
    assert fetch_release_files([file]) == [got]
    assert server.log == []
    assert only_locks(config.cache_dir() / config.FILES_DIR / fetching.DOWNLOADS) == []


def test_a_fastq_pair_comes_from_one_download_of_its_tar(server):
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{FASTQ_TAR}", tar_of(
        {"PS0810_E1-50_S88_R1.fastq.gz": R1, "PS0810_E1-50_S88_R2.fastq.gz": R2}))
    forward, reverse = fastq_files()
    got = fetch_release_files([reverse, forward])
    assert [item.file for item in got] == [reverse, forward]
    assert got[0].path.read_bytes() == R2 and got[1].path.read_bytes() == R1
    assert got[1].found.url.endswith(FASTQ_TAR) and got[1].found.name == forward.file_name and got[1].found.matches
    assert len(server.log) == 1
    assert only_locks(config.cache_dir() / config.FILES_DIR / fetching.DOWNLOADS) == []  # the tar is not kept


def test_a_matrix_is_the_csv_under_its_stem_folder_in_the_tar(server):
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR}", tar_of({f"{STEM}/{STEM}.csv": MATRIX}))
    (got,) = fetch_release_files([matrix_file()])
    assert got.path.read_bytes() == MATRIX and got.path.name == f"{STEM}.csv"
    assert not (got.path.parent / STEM).exists()


def v2_served(server):
    """The manifest's name answers 404 (no route); the .v2 alternate holds other bytes, of another size."""
    v2 = MATRIX.replace(b",PS0299", b"")[:-200] + b"\n"
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR.replace('.csv.tar', '.v2.csv.tar')}",
                      tar_of({f"{STEM}.v2/{STEM}.v2.csv": v2}))
    return v2


def test_other_bytes_at_an_alternate_are_refused_and_nothing_is_cached(server):
    v2 = v2_served(server)
    file = matrix_file()
    with pytest.raises(ChecksumError) as caught:
        fetch_release_files([file])
    message = str(caught.value)
    assert f"{STEM}.csv of the release" in message and f"{STEM}.v2.csv.tar" in message
    assert file.sha256 in message and f"{len(v2)} bytes" in message and "accept_other_bytes=True" in message
    assert [entry.status for entry in server.log] == [404, 200]
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []  # nothing under the manifest's folder, no tar


def test_other_bytes_of_the_same_size_are_refused_naming_both_checksums(server):
    other = SWC.replace(b"# a reconstruction", b"# A RECONSTRUCTION")
    server.serve_file(f"/{SWC_PATH}", other)
    file = swc_file()
    with pytest.raises(ChecksumError, match=rf"{SWC_PATH} holds other bytes than the release manifest: SHA-256 "
                                            rf"{sha(other)} \({len(SWC)} bytes\), the manifest's {file.sha256}"):
        fetch_release_files([file])
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []


def test_accepted_other_bytes_are_cached_under_their_own_sha256_and_said_once(server):
    v2 = v2_served(server)
    file = matrix_file()
    with pytest.warns(OtherBytesWarning, match=rf"SHA-256 {sha(v2)} .*not the manifest's {file.sha256}"):
        (got,) = fetch_release_files([file], accept_other_bytes=True)
    assert got.path == config.cache_dir() / config.FILES_DIR / "other" / sha(v2) / f"{STEM}.v2.csv"
    assert got.path.read_bytes() == v2 and read_record(got.path).sha256 == sha(v2)
    found = json.loads((folder(file.sha256) / "found.json").read_text())
    assert found == {"url": f"{server.url}/other/AIBS/AIBS_patchseq/{MATRIX_TAR.replace('.csv.tar', '.v2.csv.tar')}",
                     "name": f"{STEM}.v2.csv", "sha256": sha(v2), "size": len(v2), "matches": False}
    assert not matching_path(file.sha256, file.file_name).exists()
    server.log.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per process: not again
        assert fetch_release_files([file], accept_other_bytes=True) == [got]
    assert server.log == []
    with pytest.raises(ChecksumError):  # not accepted: the accepted copy does not count
        fetch_release_files([file])


def test_a_web_page_instead_of_the_file_is_refused(server):
    server.add_route("/biccn/", lambda request: Reply(200, b"<html><body>Oops</body></html>", {"Content-Type": "text/html"}))
    with pytest.raises(ServerAnswerError, match=rf"{SWC_PATH}: the server answered a web page \(text/html"):
        fetch_release_files([swc_file()])
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []


def test_found_nowhere_names_every_url_and_its_answer(server):
    with pytest.raises(FetchError, match=rf"found at none of its homes; {server.url}/\S+_cpm.csv.tar: HTTP 404 .*; "
                                         rf"{server.url}/\S+_cpm.v2.csv.tar: HTTP 404") as caught:
        fetch_release_files([matrix_file()])
    assert caught.value.status == 404


@pytest.mark.parametrize("cut", [1500, 100_000])
def test_a_truncated_tar_is_refused_and_nothing_kept(server, cut):
    whole = tar_of({"PS0810_E1-50_S88_R1.fastq.gz": R1, "PS0810_E1-50_S88_R2.fastq.gz": R2})
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{FASTQ_TAR}", whole[:cut])
    with pytest.raises(PackedFileError, match=rf"fastq.tar: not a whole tar \({cut} bytes\)"):
        fetch_release_files(fastq_files())
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []


def test_a_tar_without_the_member_names_what_it_holds(server):
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{FASTQ_TAR}", tar_of({"PS0810_E1-50_S88_R1.fastq.gz": R1}))
    with pytest.raises(PackedFileError, match=r"holds no member named PS0810_E1-50_S88_R2.fastq.gz; it holds "
                                              r"\['PS0810_E1-50_S88_R1.fastq.gz'\]"):
        fetch_release_files(fastq_files())
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []


def test_a_member_of_another_size_is_refused_naming_both_sizes(server):
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{FASTQ_TAR}", tar_of(
        {"PS0810_E1-50_S88_R1.fastq.gz": R1 + b"x", "PS0810_E1-50_S88_R2.fastq.gz": R2}))
    with pytest.raises(ChecksumError, match=rf"member PS0810_E1-50_S88_R1.fastq.gz has {len(R1) + 1} bytes, the "
                                            rf"manifest's file {len(R1)} .*accept_other_bytes=True"):
        fetch_release_files(fastq_files())
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []


def test_a_cut_is_resumed_within_the_call(server):
    body = tar_of({f"{STEM}/{STEM}.csv": MATRIX})
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR}", body, etag="nemo-1")
    server.faults.cut_after_bytes, server.faults.cuts = 200_000, 1
    (got,) = fetch_release_files([matrix_file()])
    assert got.path.read_bytes() == MATRIX
    first, second = server.log
    assert first.range is None and second.status == 206 and second.range == f"bytes={first.body_bytes}-"


def test_an_interrupted_download_is_resumed_by_the_next_call(server):
    body = tar_of({f"{STEM}/{STEM}.csv": MATRIX})
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR}", body, etag="nemo-1")
    server.faults.cut_after_bytes, server.faults.cuts = 100_000, 3  # the server stops sending, every attempt
    with pytest.raises(FetchError, match="gave up after 3 attempts"):
        fetch_release_files([matrix_file()])
    assert not matching_path(matrix_file().sha256, f"{STEM}.csv").exists()
    sent_before = server.bytes_sent()
    server.log.clear()
    (got,) = fetch_release_files([matrix_file()])
    assert got.path.read_bytes() == MATRIX
    (again,) = server.log
    assert again.status == 206 and again.range == f"bytes={sent_before}-"
    assert sent_before + again.body_bytes == len(body)  # about one file in all


def test_offline_a_missing_file_is_named_and_a_cached_one_served(server, monkeypatch):
    server.serve_file(f"/{SWC_PATH}", SWC)
    (got,) = fetch_release_files([swc_file()])
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    assert fetch_release_files([swc_file()]) == [got]
    with pytest.raises(OfflineError, match=rf"csv {STEM}.csv of the release is not cached, and PATCHSEQ_INTAKE_OFFLINE"):
        fetch_release_files([swc_file(), matrix_file()])
    assert len(server.log) == 1


def test_a_link_no_rule_knows_names_it_and_the_rules(server):
    unknown = ReleaseFile(1, "morphology", "raw_swc", "x.swc", 3, sha(b"abc"), "BIL", "ftp://elsewhere/x.swc", ())
    with pytest.raises(FetchError, match=rf"raw_swc x.swc of cell 1: no live home .*ftp://elsewhere/x.swc.*{BIL_DEAD} \(BIL\)"):
        fetch_release_files([unknown], homes=Homes.from_catalog(RULES))
    with pytest.raises(FetchError, match=r"ftp://elsewhere/x.swc: the catalog's homes have no rule for it"):
        fetch_release_files([unknown])


def test_two_threads_wanting_one_file_make_one_download(server):
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR}", tar_of({f"{STEM}/{STEM}.csv": MATRIX}))
    server.faults.latency_s = 0.3  # both ask before either has it
    results, errors = [], []

    def fetch():
        try:
            results.append(fetch_release_files([matrix_file()]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert len(server.log) == 1


def test_a_damaged_cached_file_is_fetched_again(server):
    server.serve_file(f"/{SWC_PATH}", SWC)
    (got,) = fetch_release_files([swc_file()])
    got.path.write_bytes(SWC[:-1] + b"!")
    with pytest.warns(Warning, match="not the one that was verified"):
        (again,) = fetch_release_files([swc_file()])
    assert again.path.read_bytes() == SWC and len(server.log) == 2


def test_ctrl_c_while_extracting_keeps_the_whole_tar_for_the_next_call(server, monkeypatch):
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR}", tar_of({f"{STEM}/{STEM}.csv": MATRIX}), etag="nemo-1")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(fetching, "extract_members", interrupted)
        with pytest.raises(KeyboardInterrupt):
            fetch_release_files([matrix_file()])
    server.log.clear()
    (got,) = fetch_release_files([matrix_file()])
    assert got.path.read_bytes() == MATRIX and server.log == []
    assert only_locks(config.cache_dir() / config.FILES_DIR / fetching.DOWNLOADS) == []


CHILD = """
import sys
import patchseq_intake.transport.cache as cache
from patchseq_intake.archives.fetching import fetch_release_files
from patchseq_intake.archives.homes import Location
from patchseq_intake.archives.release_files import ReleaseFile
cache.WAIT_NOTICE_S = 0.1  # a wait on the other's lock is said
url, member, name, size, sha256 = sys.argv[1:]
file = ReleaseFile(None, "transcriptomics", "csv", name, int(size), sha256, "NEMO", "x", (Location(url, member),))
print("ready", flush=True)
sys.stdin.readline()
print(fetch_release_files([file])[0].path)
"""


def test_two_processes_wanting_one_file_make_one_download(server):
    body = tar_of({f"{STEM}/{STEM}.csv": MATRIX})
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR}", body)
    server.faults.bandwidth_bytes_per_s = len(body) / 2  # the first download takes 2 s: the other process asks meanwhile
    file, location = matrix_file(), matrix_file().locations[0]
    other = subprocess.Popen(
        [sys.executable, "-c", CHILD, location.url, location.member, file.file_name, str(file.size), file.sha256],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert other.stdout.readline() == "ready\n"
        mine = []
        first = threading.Thread(target=lambda: mine.extend(fetch_release_files([file])))
        first.start()
        downloads = config.cache_dir() / config.FILES_DIR / fetching.DOWNLOADS
        for _ in range(200):  # until the first download has begun (its lock held), at most 2 s
            if downloads.exists() and any(downloads.rglob("*.partial")):
                break
            time.sleep(0.01)
        other.stdin.write("go\n")
        other.stdin.flush()
        out, err = other.communicate(timeout=30)
        first.join(30)
    finally:
        other.kill()
    assert other.returncode == 0, err
    assert "waiting for another process" in err  # it asked while the first was downloading
    assert out.strip() == str(mine[0].path) and mine[0].path.read_bytes() == MATRIX
    assert len(server.log) == 1


def test_a_verified_file_whose_note_was_lost_is_served_and_noted_again(server):
    server.serve_file(f"/{SWC_PATH}", SWC)
    file = swc_file()
    (got,) = fetch_release_files([file])
    (folder(file.sha256) / "found.json").unlink()
    server.log.clear()
    assert fetch_release_files([file]) == [got]
    assert server.log == [] and read_found(file.sha256) == got.found


@pytest.mark.parametrize("other", [SWC + b"1 1 0 0 0 5 -1\n", SWC[:-20]])
def test_a_plain_file_of_another_size_is_refused_naming_the_manifests_checksum(server, other):
    server.serve_file(f"/{SWC_PATH}", other)
    file = swc_file()
    with pytest.raises(ChecksumError) as caught:
        fetch_release_files([file])
    message = str(caught.value)
    assert f"{server.url}/{SWC_PATH} holds other bytes" in message and "accept_other_bytes=True" in message
    assert f"{file.size} bytes, SHA-256 {file.sha256}" in message and str(len(other)) in message
    assert only_locks(config.cache_dir() / config.FILES_DIR) == []


def test_one_read_of_a_pair_is_taken_from_its_tar_however_large_the_other(server):
    import dataclasses

    big = os.urandom(3 * 1024 * 1024)  # the other read's file: over the tar's 1 MiB of overhead, as real reads are
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{FASTQ_TAR}",
                      tar_of({"PS0810_E1-50_S88_R1.fastq.gz": R1, "PS0810_E1-50_S88_R2.fastq.gz": big}))
    forward = dataclasses.replace(fastq_files()[0], packed_size=len(R1) + len(big))  # as release_files gives it
    (got,) = fetch_release_files([forward])
    assert got.path.read_bytes() == R1 and got.found.matches


def test_a_server_error_names_the_files_asked_for(server):
    server.faults.statuses = [500] * 10
    file = swc_file()
    with pytest.raises(FetchError) as refused:
        fetch_release_files([file])
    assert str(refused.value).startswith(f"{file.label}: ") and "HTTP 500" in str(refused.value)


def test_other_bytes_at_an_alternate_say_why_the_alternate_was_tried(server):
    v2 = MATRIX.replace(b"Gene1,", b"Gene1x,")
    server.serve_file(f"/other/AIBS/AIBS_patchseq/{MATRIX_TAR.replace('.csv.tar', '.v2.csv.tar')}",
                      tar_of({f"{STEM}.v2/{STEM}.v2.csv": v2}))
    with pytest.raises(ChecksumError) as refused:
        fetch_release_files([matrix_file()])
    assert "tried after:" in str(refused.value) and "404" in str(refused.value)
