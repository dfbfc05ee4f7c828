"""What changed since the healthy examination: the first question a responder asks.

In a drill the doctor examined the server just before the fault. Comparing
the two examinations gives the files under /etc/nginx that were added,
removed or changed (content, mode, owner, link target), the paths nginx
serves whose permission or existence changed, the listeners that appeared or
went away, the services that stopped or started, and the master's limits.
Decoys are what changed *and* does not explain the failure: the cause units
decide that; this module only lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.facts import Facts


@dataclass(frozen=True)
class Change:
    kind: str  # file-added, file-removed, file-changed, path-changed, listener-gone, listener-new, service-stopped, ...
    subject: str  # the path, port or service
    before: str
    after: str

    def line(self) -> str:
        if self.before and self.after:
            return f"{self.kind} {self.subject}: {self.before} -> {self.after}"
        return f"{self.kind} {self.subject}" + (f" ({self.before or self.after})" if self.before or self.after else "")


@dataclass(frozen=True)
class Changes:
    items: tuple[Change, ...] = ()
    compared: bool = False  # False: there was no healthy examination to compare with (harness check)

    def of(self, *kinds: str) -> tuple[Change, ...]:
        return tuple(c for c in self.items if c.kind in kinds)

    def file(self, path: str) -> Change | None:
        return next((c for c in self.items if c.subject == path and c.kind.startswith("file-")), None)

    def lines(self) -> list[str]:
        if not self.compared:
            return []
        if not self.items:
            return ["changed since the healthy check: nothing the doctor looks at"]
        return [f"changed since the healthy check: {c.line()}" for c in self.items]


def _describe(entry: object) -> str:
    kind = getattr(entry, "kind", "")
    if kind == "link":
        return f"link -> {entry.link}"  # type: ignore[attr-defined]
    mode = oct(getattr(entry, "mode", 0) & 0o7777)[2:].zfill(4)
    return f"{kind} {mode} {getattr(entry, 'owner', '')}"


def compare(before: Facts, after: Facts) -> Changes:
    items: list[Change] = []
    old, new = before.config.files, after.config.files
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a is None and b is not None:
            items.append(Change("file-added", path, "", _describe(b)))
        elif b is None and a is not None:
            items.append(Change("file-removed", path, _describe(a), ""))
        elif a is not None and b is not None and a != b:
            if a.sha256 != b.sha256 and a.kind == b.kind == "file":
                items.append(Change("file-changed", path, "content", "new content"))
            if (a.mode, a.owner, a.kind, a.link) != (b.mode, b.owner, b.kind, b.link):
                items.append(Change("file-changed", path, _describe(a), _describe(b)))
    for path, stat in sorted(after.inside.paths.items()):
        was = before.inside.paths.get(path)
        if was is None or was == stat:
            continue
        if was.exists and not stat.exists:
            items.append(Change("path-removed", path, f"{was.kind} {was.mode} {was.owner}", ""))
        elif stat.exists and not was.exists:
            items.append(Change("path-added", path, "", f"{stat.kind} {stat.mode} {stat.owner}"))
        else:
            items.append(Change("path-changed", path, f"{was.mode} {was.owner}", f"{stat.mode} {stat.owner}"))
    ports_before = {(item.port, ",".join(item.processes)) for item in before.listeners}
    ports_after = {(item.port, ",".join(item.processes)) for item in after.listeners}
    for port, who in sorted(ports_before - ports_after):
        items.append(Change("listener-gone", str(port), who or "?", ""))
    for port, who in sorted(ports_after - ports_before):
        items.append(Change("listener-new", str(port), "", who or "?"))
    was_running = dict(before.services)
    for name, running in after.services:
        if was_running.get(name) is True and not running:
            items.append(Change("service-stopped", name, "running", "stopped"))
        elif was_running.get(name) is False and running:
            items.append(Change("service-started", name, "stopped", "running"))
    if before.open_files_limit != after.open_files_limit:
        items.append(Change("limit-changed", "open files", str(before.open_files_limit), str(after.open_files_limit)))
    return Changes(tuple(items), True)
