"""The scenario registry: discovery by entry point, validation, broken plugins (no Docker)."""

from __future__ import annotations

import re
import sys
import types
from importlib.metadata import EntryPoint

import pytest

from harness.catalogue import load_catalogue
from harness.errors import PluginError, UnknownScenario
from harness.scenario import GROUP, Scenario
from harness.symptom import Symptom

KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


class Good(Scenario):
    name = "good-one"
    summary = "a fault"
    symptom = Symptom.REFUSED
    cause = "some-cause"

    def inject(self, target):  # type: ignore[no-untyped-def]
        pass

    def repair(self, target):  # type: ignore[no-untyped-def]
        pass


class BadSymptom(Good):
    name = "bad-symptom"
    symptom = "refused"  # type: ignore[assignment]


class NoRepair(Scenario):
    name = "no-repair"
    summary = "a fault"
    symptom = Symptom.TIMEOUT
    cause = "x"

    def inject(self, target):  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def plugin_module() -> types.ModuleType:
    module = types.ModuleType("fake_plugins")
    module.Good = Good  # type: ignore[attr-defined]
    module.BadSymptom = BadSymptom  # type: ignore[attr-defined]
    module.NoRepair = NoRepair  # type: ignore[attr-defined]
    sys.modules["fake_plugins"] = module
    yield module
    del sys.modules["fake_plugins"]


def entry(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=target, group=GROUP)


def test_every_installed_scenario_honours_the_interface() -> None:
    catalogue = load_catalogue()
    assert "missing-symlink" in catalogue.names()
    assert catalogue.broken == ()
    for name, cls in catalogue.scenarios.items():
        assert cls.name == name
        assert isinstance(cls.symptom, Symptom)
        assert KEBAB.fullmatch(cls.cause)
        assert cls.summary
        assert isinstance(cls(), Scenario)


def test_the_original_outage_is_declared_as_the_postmortem_describes() -> None:
    scenario = load_catalogue().get("missing-symlink")
    assert scenario.symptom is Symptom.REFUSED
    assert scenario.cause == "site-not-enabled"


def test_broken_plugins_are_reported_and_do_not_hide_the_others(plugin_module: types.ModuleType) -> None:
    catalogue = load_catalogue(
        [
            entry("good-one", "fake_plugins:Good"),
            entry("bad-symptom", "fake_plugins:BadSymptom"),
            entry("no-repair", "fake_plugins:NoRepair"),
            entry("missing", "fake_plugins_nowhere:Thing"),
            entry("misnamed", "fake_plugins:Good"),
        ]
    )
    assert catalogue.names() == ["good-one"]
    reasons = {p.name: p.reason for p in catalogue.broken}
    assert "symptom 'refused' is not one of" in reasons["bad-symptom"]
    assert "does not implement repair" in reasons["no-repair"]
    assert "ModuleNotFoundError" in reasons["missing"]
    assert "differs from its entry-point name 'misnamed'" in reasons["misnamed"]
    with pytest.raises(PluginError, match=r"scenario plugin 'no-repair' from .* is broken"):
        catalogue.get("no-repair")


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(UnknownScenario) as caught:
        load_catalogue().get("missing-symlnk")
    known = ", ".join(load_catalogue().names())
    assert str(caught.value) == (
        f"unknown scenario 'missing-symlnk'; did you mean 'missing-symlink'? (known scenarios: {known})"
    )
    assert "missing-symlink" in known


def test_a_name_like_no_known_one_gets_no_guess() -> None:
    with pytest.raises(UnknownScenario) as caught:
        load_catalogue().get("database-pool")
    assert "did you mean" not in str(caught.value)


# -- plugin authors ------------------------------------------------------------------------------------


def test_the_load_symptom_member_carries_its_name() -> None:
    assert Symptom.FAILS_UNDER_LOAD.value == "fails-under-load"
    assert Symptom.DEGRADED is Symptom.FAILS_UNDER_LOAD  # the old name keeps working


# -- the symptom vocabulary: one meaning in the probe, the scenarios, the schema and the docs ------------------


def test_the_probes_failing_outcomes_are_symptoms_of_the_same_name_and_value() -> None:
    from harness.probe import Outcome

    failing = {o.name: o.value for o in Outcome if o is not Outcome.OK}
    assert {name: s.value for name, s in Symptom.__members__.items() if name in failing} == failing
    assert all(Symptom.of(o).value == o.value for o in Outcome if o is not Outcome.OK)


def test_the_documented_symptoms_are_the_codes() -> None:
    """docs/drill.md holds the one table of symptoms the docs give; the YAML schema's enum is checked beside it."""
    from pathlib import Path

    from harness import schemas

    page = (Path(__file__).resolve().parent.parent / "docs" / "drill.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| `([A-Z0-9_]+)` \|", page, flags=re.MULTILINE)
    assert rows == [(s.value, s.name) for s in Symptom]
    assert schemas.load("scenario")["properties"]["symptom"]["enum"] == [s.value for s in Symptom]
