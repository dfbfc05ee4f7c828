"""Back to known good: faults nobody catalogued, put back from the healthy examination's record, round by round.

Each scenario below is drilled end to end on harness's own server. Where the record explains the outage, the
repair must end recovered and the steps must show the undo (a move back, a type put back, a rule deleted, a
process resumed); two faults at once must end recovered with both causes named; controls stay untouched.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.cli import PASSED, VERDICT_FAILED
from harness.doctor import HEALTHY, Diagnosis, diagnose, examine
from harness.facts import parse_facts
from harness.known_good import Entry, Record, State, parse_state
from harness.target import Target
from harness.undo import differences, implicated, plan_undo
from tests.helpers import run_harness, single_drill

DATA = Path(__file__).parent / "data"

SIGNS = "needs: [test-server]\n"

# name -> (YAML, the cause the first round names, words the repair steps must hold)
UNDONE: dict[str, tuple[str, str, str]] = {
    "root-renamed": (
        "summary: a cleanup script renamed the web root to html.old\nsymptom: http-4xx\ncause: root-missing\n"
        + SIGNS
        + "inject:\n  - run: [mv, /var/www/html, /var/www/html.old]\n",
        "root-missing",
        "mv -T -- /var/www/html.old /var/www/html",
    ),
    "root-replaced-by-a-file": (
        "summary: the web root moved away and an empty file put in its place\nsymptom: http-4xx\n"
        "cause: unexplained\nnew_cause: true\n"
        + SIGNS
        + "inject:\n  - script: mv /var/www/html /var/www/site-2024 && touch /var/www/html\n",
        "unexplained",
        "mv -T -- /var/www/site-2024 /var/www/html",  # no unit explains it: the general undo repairs it
    ),
    "log-dir-replaced-by-a-file": (
        "summary: a log rotation left a file where /var/log/nginx was; nginx stopped and cannot start\n"
        "symptom: refused\ncause: config-invalid\n"
        + SIGNS
        + "inject:\n  - script: service nginx stop; rm -rf /var/log/nginx && touch /var/log/nginx; service nginx start"
        " || true\n    timeout: 20\n",
        "config-invalid",
        "mkdir -p -m 755 -- /var/log/nginx",
    ),
    "upstream-app-frozen": (
        "summary: the app behind /app/ was stopped with SIGSTOP by a debugging session\nsymptom: timeout\n"
        "cause: upstream-unreachable\n" + SIGNS + 'inject:\n  - script: kill -STOP "$(cat /run/app.pid)"\n',
        "upstream-unreachable",
        "kill -CONT",
    ),
    "sites-enabled-renamed": (
        "summary: sites-enabled renamed to sites-enabled.off, then nginx restarted\nsymptom: refused\n"
        "cause: site-not-enabled\n"
        + SIGNS
        + "inject:\n  - run: [mv, /etc/nginx/sites-enabled, /etc/nginx/sites-enabled.off]\n"
        "  - run: [service, nginx, restart]\n    check: false\n",
        "site-not-enabled",
        "mv -T -- /etc/nginx/sites-enabled.off /etc/nginx/sites-enabled",
    ),
    "site-file-replaced-by-a-folder": (
        "summary: sites-available/default moved to /root and a folder made in its place; nginx stopped, cannot start\n"
        "symptom: refused\ncause: config-invalid\n"
        + SIGNS
        + "inject:\n  - script: service nginx stop; mv /etc/nginx/sites-available/default /root/default;"
        " mkdir /etc/nginx/sites-available/default; service nginx start || true\n    timeout: 20\n",
        "",
        "wrote /etc/nginx/sites-available/default",
    ),
    "mime-types-moved": (
        "summary: mime.types renamed by a package upgrade gone wrong; nginx stopped and cannot start\n"
        "symptom: refused\ncause: config-invalid\n"
        + SIGNS
        + "inject:\n  - script: service nginx stop; mv /etc/nginx/mime.types /etc/nginx/mime.types.dpkg-old;"
        " service nginx start || true\n    timeout: 20\n",
        "config-invalid",
        "/etc/nginx/mime.types",
    ),
    "firewall-rule-with-a-comment": (
        "summary: a maintenance firewall rule (with a comment) rejects port 80 and was never removed\n"
        "symptom: refused\ncause: firewall-blocks-port\ncapabilities: [NET_ADMIN]\n"
        + SIGNS
        + "inject:\n  - run: [iptables, -w, '2', -I, INPUT, -p, tcp, --dport, '80', -m, comment, --comment,"
        " ops maintenance, -j, REJECT, --reject-with, tcp-reset]\n",
        "firewall-blocks-port",
        "iptables -w 2 -D",
    ),
    "index-file-became-a-link-to-nowhere": (
        "summary: index.html replaced by a link into a release folder that was never deployed\nsymptom: http-4xx\n"
        "cause: web-root-unreadable\n"
        + SIGNS
        + "inject:\n  - script: mv /var/www/html/index.html /var/www/index.prev && ln -s /opt/release-9/index.html"
        " /var/www/html/index.html\n",
        "",
        "",
    ),
    "conf-link-to-a-folder": (
        "summary: a deploy linked conf.d/extra.conf to a folder; nginx stopped and cannot start\n"
        "symptom: refused\ncause: config-invalid\n"
        + SIGNS
        + "inject:\n  - script: service nginx stop; mkdir -p /srv/extra; ln -s /srv/extra /etc/nginx/conf.d/extra.conf;"
        " service nginx start || true\n    timeout: 20\n",
        "config-invalid",
        "mv -T -- /etc/nginx/conf.d/extra.conf /var/backups/nginx/undone/",  # the link, never the folder it names
    ),
    # Two faults at once.
    "seed-story": (
        "summary: a bad deploy drops a broken conf.d file, the site link is lost, nginx stopped and cannot start\n"
        "symptom: refused\ncause: config-invalid\n"
        + SIGNS
        + "inject:\n  - script: printf 'server {\\n  listen 8081;\\n  proxy_pass_typo http://127.0.0.1:9000;\\n}\\n'"
        " > /etc/nginx/conf.d/app.conf\n  - run: [rm, -f, /etc/nginx/sites-enabled/default]\n"
        "  - run: [service, nginx, stop]\n  - run: [service, nginx, start]\n    check: false\n",
        "config-invalid",
        "ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default",
    ),
    "seed-story-latent": (
        "summary: a bad deploy drops a broken conf.d file and the site link is lost; a restart refuses the config\n"
        "symptom: latent\ncause: latent-config-invalid\n"
        + SIGNS
        + "inject:\n  - script: printf 'server {\\n  listen 8081;\\n  proxy_pass_typo http://127.0.0.1:9000;\\n}\\n'"
        " > /etc/nginx/conf.d/app.conf\n  - run: [rm, -f, /etc/nginx/sites-enabled/default]\n"
        "  - run: [service, nginx, restart]\n    check: false\n",
        "latent-config-invalid",
        "ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default",
    ),
    "root-renamed-and-firewall": (
        "summary: the web root renamed and a firewall rule left behind, in the same maintenance window\n"
        "symptom: refused\ncause: firewall-blocks-port\ncapabilities: [NET_ADMIN]\n"
        + SIGNS
        + "inject:\n  - run: [mv, /var/www/html, /var/www/html.old]\n"
        "  - run: [iptables, -w, '2', -I, INPUT, -p, tcp, --dport, '80', -j, REJECT, --reject-with, tcp-reset]\n",
        "firewall-blocks-port",
        "mv -T -- /var/www/html.old /var/www/html",
    ),
    "app-frozen-and-index-moved": (
        "summary: the app frozen with SIGSTOP and index.html renamed, by the same debugging session\n"
        "symptom: http-4xx\ncause: index-missing\n" + SIGNS + 'inject:\n  - script: kill -STOP "$(cat /run/app.pid)"\n'
        "  - run: [mv, /var/www/html/index.html, /var/www/html/index.html.bak]\n",
        "",
        "kill -CONT",
    ),
    "stopped-and-root-renamed": (
        "summary: nginx stopped for maintenance and the web root renamed; nobody started nginx again\n"
        "symptom: refused\ncause: nginx-not-running\n"
        + SIGNS
        + "inject:\n  - run: [mv, /var/www/html, /var/www/html.old]\n  - run: [service, nginx, stop]\n"
        "    timeout: 20\n",
        "nginx-not-running",
        "mv -T -- /var/www/html.old /var/www/html",
    ),
    "log-dir-gone-and-mime-types-moved": (
        "summary: a cleanup removed /var/log/nginx and renamed mime.types; nginx stopped and cannot start\n"
        "symptom: refused\ncause: config-invalid\n"
        + SIGNS
        + "inject:\n  - script: service nginx stop; rm -rf /var/log/nginx;"
        " mv /etc/nginx/mime.types /etc/nginx/mime.types.old; service nginx start || true\n    timeout: 20\n",
        "",
        "/etc/nginx/mime.types",
    ),
}


UA_FILTER = """\
summary: a bot filter added to location / matches the monitoring's User-Agent, 403 for the probe only
symptom: http-4xx
cause: unexplained
new_cause: true  # the doctor's honest verdict, no unit's
needs: [test-server]
inject:
  - script: >-
      sed -i
      's|location / {|location / {\\n\\t\\tif ($http_user_agent ~* "(bot\\|crawler\\|probe)") { return 403; }|'
      /etc/nginx/sites-available/default && nginx -s reload
"""


@pytest.mark.docker
def test_the_probes_request_replayed_inside_localizes_a_changed_answer_to_the_line_that_changed(tmp_path: Path) -> None:
    """curl's smallest request inside gets 200; the probe's own (its User-Agent) gets 403, as at no healthy check."""
    code, result, steps = _drill(tmp_path, "user-agent-filter", UA_FILTER)
    diagnosis = result["observed"]["diagnosis"]
    assert code == PASSED, result["problems"]
    assert "the answer changed since the healthy check (200" in diagnosis["summary"], diagnosis["summary"]
    assert '$http_user_agent ~* "(bot|crawler|probe)"' in diagnosis["summary"]
    assert "(/etc/nginx/sites-available/default:12)" in diagnosis["summary"]
    assert "wrote /etc/nginx/sites-available/default" in steps, steps


def _drill(tmp_path: Path, name: str, text: str) -> tuple[int, dict[str, Any], str]:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(f"name: {name}\n{text}")
    done = run_harness("drill", str(scenario), "--json")
    result = single_drill(done.stdout)
    steps = " ".join(" ".join(step["argv"]) for step in result["repair_steps"])
    return done.returncode, result, steps


@pytest.mark.docker
@pytest.mark.parametrize("name", list(UNDONE))
def test_a_fault_nobody_catalogued_is_put_back_as_the_record_shows(tmp_path: Path, name: str) -> None:
    text, first, undone = UNDONE[name]
    code, result, steps = _drill(tmp_path, name, text)
    observed = result["observed"]
    assert code == PASSED and result["verdict"] == "recovered", (result["problems"], observed["rounds"], steps)
    if first:
        assert observed["diagnosis"]["cause"] == first, observed["diagnosis"]
    assert undone in steps, steps
    assert observed["diagnosis_after_repair"]["cause"] == HEALTHY


TWO_FAULTS = {
    "seed-story": ("config-invalid", "site-not-enabled"),
    "seed-story-latent": ("latent-config-invalid", "site-not-enabled"),
    "stopped-and-root-renamed": ("nginx-not-running", "root-missing"),
}


@pytest.mark.docker
@pytest.mark.parametrize("name", list(TWO_FAULTS))
def test_two_faults_at_once_take_two_rounds_and_both_causes_are_named(tmp_path: Path, name: str) -> None:
    code, result, _ = _drill(tmp_path, name, UNDONE[name][0])
    rounds = [r["cause"] for r in result["observed"]["rounds"]]
    assert code == PASSED and rounds == list(TWO_FAULTS[name]), (result["reason"], rounds)
    events = [e["detail"] for e in result["timeline"]["events"] if e["event"] == "diagnosed"]
    assert any(detail.startswith("round 2: ") for detail in events), events


NEW_RELEASE = """\
name: new-release
summary: "a deploy shipped a new index.html that lacks the text the monitoring looks for"
symptom: not-our-server
cause: site-serves-other-content
needs: [test-server]
inject:
  - script: printf '<h1>release 2</h1>\\n' > /var/www/html/index.html
"""


@pytest.mark.docker
def test_content_a_person_wrote_is_advice_naming_the_file_and_never_written_back(tmp_path: Path) -> None:
    code, result, steps = _drill(tmp_path, "new-release", NEW_RELEASE.split("\n", 1)[1])
    assert code == VERDICT_FAILED and result["verdict"] == "not-recovered", result["reason"]
    assert "/var/www/html/index.html" in result["reason"], result["reason"]
    assert "write /var/www/html/index.html" not in steps and not steps, steps


HARMLESS = """\
summary: a file written in /tmp and a comment added to /etc/default/nginx, nothing nginx minds
symptom: latent
cause: none
new_cause: true  # nothing breaks: no cause to name
needs: [test-server]
inject:
  - script: touch /tmp/harmless; printf '# checked by ops\\n' >> /etc/default/nginx
"""


@pytest.mark.docker
def test_a_harmless_change_is_never_repaired(tmp_path: Path) -> None:
    code, result, steps = _drill(tmp_path, "harmless", HARMLESS)
    # The steady state held (withstood; on harness's own server a scenario that breaks nothing fails): no repair.
    assert result["verdict"] in ("withstood", "not-detected") and not steps, (result["reason"], steps)
    assert code == VERDICT_FAILED


# -- the record, without a drill ------------------------------------------------------------------------


@pytest.mark.docker
def test_the_healthy_examination_records_what_nginx_reads_writes_and_serves(harness_target: Target) -> None:
    diagnosis = examine(harness_target)
    state = diagnosis.facts.state
    assert diagnosis.healthy and state.gathered
    paths = state.paths()
    index = paths["/var/www/html/index.html"]
    assert index.kind == "f" and index.inode > 0 and len(index.sha256) == 64
    assert paths["/var/log/nginx"].kind == "d" and paths["/var/log/nginx"].group == "adm"
    assert paths["/var/lib/nginx/body"].owner == "www-data"
    assert state.content("/var/www/html/index.html") == harness_target.read_file("/var/www/html/index.html").encode()
    assert state.content("/etc/default/nginx") is not None
    assert any(line.startswith("www-data:") for line in state.users)
    record = diagnosis.facts.record()
    assert Record.from_json(record.to_json()) == record
    assert record.config_file("/etc/nginx/nginx.conf") is not None
    # A repair never runs on a healthy server: nothing to undo there.
    assert plan_undo(diagnosis) == ([], [])


def _captured() -> Diagnosis:
    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    return diagnose(facts)


def _entry(path: str, kind: str = "f", inode: int = 1, sha: str = "", mode: str = "644", link: str = "") -> Entry:
    return Entry(path, kind, mode, "root", "root", inode, 10, link, sha)


def test_a_path_gone_and_one_appeared_with_its_inode_is_a_move_back() -> None:
    base = _captured()
    before = State((_entry("/srv/a", "d", 7), _entry("/srv/a/i.html", sha="1" * 64)), (), (), True)
    after = State((_entry("/srv/b", "d", 7),), (), (), True)
    record = dataclasses.replace(base.facts.record(), state=before)
    undos, _ = differences(record, dataclasses.replace(base.facts, state=after))
    assert [u.acts[-1].argv for u in undos] == [("mv", "-T", "--", "/srv/b", "/srv/a")]


def test_a_changed_page_is_advice_and_a_changed_mode_is_undone() -> None:
    base = _captured()
    before = State((_entry("/srv/i.html", sha="1" * 64), _entry("/srv/d", "d", 3, mode="755")), (), (), True)
    after = State((_entry("/srv/i.html", sha="2" * 64), _entry("/srv/d", "d", 3, mode="700")), (), (), True)
    record = dataclasses.replace(base.facts.record(), state=before)
    undos, advice = differences(record, dataclasses.replace(base.facts, state=after))
    assert [u.acts[0].argv for u in undos] == [("chmod", "755", "--", "/srv/d")]
    assert [a.subject for a in advice] == ["/srv/i.html"]


def test_only_the_firewall_rules_that_were_added_are_deleted() -> None:
    base = _captured()
    kept = "-A INPUT -p tcp --dport 22 -j ACCEPT"
    added = '-A INPUT -p tcp -m tcp --dport 80 -m comment --comment "ops maintenance" -j DROP'
    record = dataclasses.replace(base.facts.record(), firewall_rules=(kept,), firewall_readable=True)
    now = dataclasses.replace(base.facts, firewall_rules=(kept, added), firewall_readable=True)
    undos, _ = differences(record, now)
    assert [u.acts[0].argv for u in undos] == [
        ("iptables", "-w", "2", "-D", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "80", "-m", "comment",
         "--comment", "ops maintenance", "-j", "DROP"),
    ]  # fmt: skip


def test_the_evidence_picks_the_difference_it_names_and_leaves_the_rest() -> None:
    base = _captured()
    before = State((_entry("/srv/a", "d", 7, mode="755"), _entry("/opt/x", "d", 8, mode="755")), (), (), True)
    after = State((_entry("/srv/a", "d", 7, mode="700"), _entry("/opt/x", "d", 8, mode="700")), (), (), True)
    record = dataclasses.replace(base.facts.record(), state=before)
    facts = dataclasses.replace(base.facts, state=after, config_file=("/srv/a/x.conf", "/srv/a/x.conf"))
    undos, _ = differences(record, facts)
    chosen = implicated(undos, dataclasses.replace(base, context=dataclasses.replace(base.context, facts=facts)))
    assert [u.subject for u in chosen] == ["/srv/a"]


def test_record_sections_parse_into_entries_digests_and_contents() -> None:
    text = (
        "\n@@harness-record stat\n/srv\td\t755\troot\troot\t5\t4096\t\n/srv/l\tl\t777\troot\troot\t6\t3\t/x\n"
        "/srv/i\tf\t644\twww-data\tadm\t9\t3\t\n@@harness-record digest\n" + "a" * 64 + "  /srv/i\n"
        "@@harness-record content\n\n@@harness-record users\nwww-data:x:33:33::/:/bin/false\n@@harness-record end\n"
    )
    state = parse_state(text)
    assert state.entry("/srv/l") == Entry("/srv/l", "l", "777", "root", "root", 6, 3, "/x")
    assert state.entry("/srv/i") is not None and state.entry("/srv/i").sha256 == "a" * 64  # type: ignore[union-attr]
    assert state.users == ("www-data:x:33:33::/:/bin/false",)


def test_a_failure_only_a_request_shows_is_named_by_the_unit_whose_log_pattern_matches_with_its_directive() -> None:
    from harness.causes import Cause, Registry
    from harness.semantics import Request

    facts = parse_facts((DATA / "facts-healthy.txt").read_text())
    line = (
        "2026/12/04 18:00:00 [error] 31#31: *5 rewrite or internal redirection cycle while internally redirecting to "
        '"/index.html", client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", host: "localhost"'
    )
    facts = dataclasses.replace(facts, inside=dataclasses.replace(facts.inside, errors=(line,)))
    unit = Cause("redirect-cycle", lambda ctx: None, 900, "config", ("break the cycle",),
                 log_patterns=((r"internal redirection cycle", "try_files"),))  # fmt: skip
    found = diagnose(facts, ("the probe: HTTP 500",), (Request(),), units=Registry((unit,)))
    assert found.cause == "redirect-cycle", found.summary
    assert "rewrite or internal redirection cycle" in found.summary
    assert "governed by `try_files $uri $uri/ =404` (/etc/nginx/sites-available/default:" in found.summary
    # Without a unit that declares the pattern, the same failure stays unexplained: never a guess.
    assert diagnose(facts, ("the probe: HTTP 500",), (Request(),), units=Registry(())).cause == "unexplained"
