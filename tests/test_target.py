"""The target container itself: labels, exec, files, nginx control (real Docker)."""

from __future__ import annotations

import pytest

from harness import ownership
from harness.doctor import HEALTHY, examine
from harness.errors import CommandFailed, NotOurTarget, TargetError
from harness.probe import Outcome, Probe
from harness.session import Session
from harness.target import Target


def test_target_is_labelled_as_ours(harness_target: Target, harness_session: Session) -> None:
    labels = harness_session.client.containers.get(harness_target.id).labels
    assert labels[ownership.MANAGED] == "true"
    assert labels[ownership.RUN] == harness_session.run_id
    assert harness_target.url.startswith("http://127.0.0.1:")


def test_targets_get_extra_capabilities_only_when_a_scenario_declares_them(harness_session: Session) -> None:
    catalogue = harness_session.catalogue
    privileged = [name for name in catalogue.names() if catalogue.scenarios[name].capabilities]
    assert privileged == ["network-blackhole"]
    for capabilities in ((), ("NET_ADMIN",)):
        with harness_session.new_target(capabilities=capabilities) as target:
            host = harness_session.client.containers.get(target.id).attrs["HostConfig"]
            assert (host["CapAdd"] or []) == list(capabilities)
            assert not host["Privileged"] and not host["Binds"]
            firewall = target.exec(["iptables", "-w", "2", "-S", "INPUT"])
            assert firewall.ok is bool(capabilities)


def test_target_serves_the_page_and_a_healthy_diagnosis(harness_target: Target) -> None:
    assert Probe(harness_target.url).sample().outcome is Outcome.OK
    assert examine(harness_target).cause == HEALTHY  # no false alarm on an untouched server


def test_exec_passes_arguments_without_a_shell(harness_target: Target) -> None:
    tricky = "x; touch /tmp/pwned"
    result = harness_target.exec(["printf", "%s", tricky])
    assert result.ok and result.stdout == tricky
    assert not harness_target.exec(["test", "-e", "/tmp/pwned"]).ok


def test_exec_reports_failure_and_deadline(harness_target: Target) -> None:
    with pytest.raises(CommandFailed, match="exited 1"):
        harness_target.exec(["false"], check=True)
    slow = harness_target.exec(["sleep", "30"], timeout=0.5)
    assert slow.timed_out and slow.duration < 5


def test_files_round_trip(harness_target: Target) -> None:
    harness_target.write_file("/tmp/harness note.txt", "line one\nline 'two'\n")
    assert harness_target.read_file("/tmp/harness note.txt") == "line one\nline 'two'\n"


def test_nginx_can_die_and_come_back_without_the_container_dying(harness_target: Target) -> None:
    harness_target.nginx.stop(check=True)
    assert not harness_target.nginx.running()
    assert Probe(harness_target.url).sample().outcome is Outcome.REFUSED
    harness_target.nginx.start(check=True)
    assert harness_target.nginx.running()
    harness_target.wait_until_serving(10)


def test_faults_are_refused_on_targets_we_did_not_start(harness_target: Target) -> None:
    harness_target.managed = False
    with pytest.raises(NotOurTarget, match="not started by harness"):
        harness_target.require_managed()


def test_a_closed_target_cannot_be_reused(harness_session: Session) -> None:
    target = harness_session.new_target()
    with target:
        pass
    with pytest.raises(TargetError, match="start a new Target"):
        target.start()
    with pytest.raises(TargetError, match="closed"):
        target.exec(["true"])


# Files still naming server paths as literals: other engineers were rewriting them when the paths moved into
# harness.server_paths (issue 24). Nothing may join this list; each file leaves it when its literals move.
NOT_YET_MOVED = {
    "choice.py",
    "facts.py",
    "site.py",
    "site_lay.py",
    "site_needs.py",
    "units/config.py",
    "units/process.py",
}


def test_server_paths_are_named_in_one_module() -> None:
    import re
    from pathlib import Path

    import harness

    package = Path(harness.__file__).parent
    literal = re.compile(r"""(?<!["'])["'](/etc/nginx|/run/nginx\.pid|/var/log/nginx)""")  # a docstring may say them
    naming = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "server_paths.py" and literal.search(path.read_text())
    }
    assert naming <= NOT_YET_MOVED
