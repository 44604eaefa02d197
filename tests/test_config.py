"""Settings: from the environment, and carried to other processes as a snapshot."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from patchseq_intake import config
from patchseq_intake.errors import SettingError


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(config.OFFLINE_ENV, "yes")
    monkeypatch.setenv(config.DANDI_API_ENV, "http://127.0.0.1:1/api/")
    assert config.cache_dir() == tmp_path
    assert config.offline() is True
    assert config.dandi_api() == "http://127.0.0.1:1/api"
    monkeypatch.delenv(config.DANDI_API_ENV)
    assert config.dandi_api() == config.DANDI_API


def test_a_snapshot_replaces_every_setting_in_its_context_only(monkeypatch, tmp_path):
    monkeypatch.setenv(config.OFFLINE_ENV, "1")
    monkeypatch.setenv(config.LOCAL_ROOT_ENV, str(tmp_path))
    carried = {config.CACHE_ENV: "/carried/cache", config.TABLES_ENV: "http://127.0.0.1:2/t", config.DANDI_API_ENV: "http://127.0.0.1:3/api"}
    seen_elsewhere = {}
    with config.using(carried):
        assert config.cache_dir() == Path("/carried/cache")
        assert config.tables_source() == "http://127.0.0.1:2/t"
        assert config.dandi_api() == "http://127.0.0.1:3/api"
        assert config.offline() is False and config.local_root() is None  # not carried: not set
        assert config.snapshot() == carried
        thread = threading.Thread(target=lambda: seen_elsewhere.update(offline=config.offline()))
        thread.start()
        thread.join()
    assert seen_elsewhere == {"offline": True}  # another thread keeps the environment's settings
    assert config.offline() is True and config.local_root() == tmp_path


@pytest.mark.parametrize("name", [config.OFFLINE_ENV, config.UNPINNED_TABLES_ENV])
def test_a_switch_takes_the_documented_values_and_refuses_others(monkeypatch, name):
    read = {config.OFFLINE_ENV: config.offline, config.UNPINNED_TABLES_ENV: config.unpinned_tables}[name]
    for value in ("1", "true", "YES", " on "):
        monkeypatch.setenv(name, value)
        assert read() is True, value
    for value in ("", "0", "False", "no", "OFF"):
        monkeypatch.setenv(name, value)
        assert read() is False, value
    for value in ("offline", "2", "y", "enable"):
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingError, match=rf"^{name}='{value}': give 1, true, yes or on to turn it on; "
                                               r"0, false, no, off or nothing to turn it off$"):
            read()


def test_a_bad_setting_is_one_line_in_the_cli(monkeypatch, capsys):
    from patchseq_intake.cli import main

    monkeypatch.setenv(config.OFFLINE_ENV, "offline")
    assert main(["cells", "human"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"patchseq-intake: {config.OFFLINE_ENV}='offline': give 1, true, yes or on to turn it on; "
        "0, false, no, off or nothing to turn it off\n"
    )


@pytest.mark.parametrize("name, value", [(config.OFFLINE_ENV, "maybe"), (config.TIMEOUT_ENV, "inf")])
def test_a_bad_setting_is_refused_even_when_the_cache_holds_everything(cat, world, monkeypatch, capsys, name, value):
    from patchseq_intake.cli import main

    assert main(["cells", "human"]) == 0  # the table is cached now
    capsys.readouterr()
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError, match=rf"^{name}="):
        cat.human.metadata.read()
    assert main(["cells", "human"]) == 1
    assert capsys.readouterr().err.startswith(f"patchseq-intake: {name}='{value}': give ")
