"""One harness run against one engine: its id, its image, its targets, its cleanup.

The CLI and the pytest plugin both work through a Session. Opening one sweeps
orphans that dead harness processes left; closing one removes everything
labelled with its run id, whatever happened in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness import engine, ownership
from harness.catalogue import Catalogue, load_catalogue
from harness.choice import missing
from harness.config import Settings
from harness.engine import boundary
from harness.errors import HarnessError, InvalidInput
from harness.image import TargetImage, ensure_image, ensure_variant
from harness.ownership import Removed
from harness.scenario import Scenario
from harness.signals import deferred_signals
from harness.site import Site
from harness.site_lay import start_up
from harness.target import Target

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self, settings: Settings | None = None, progress: Callable[[str], None] = log.info, site: Site | None = None
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.site = site  # a team's configuration (--site): every target of this session runs it
        self.progress = progress
        self.run_id = self.settings.run_id
        self._client: docker.DockerClient | None = None
        self._image: TargetImage | None = None
        self._variants: dict[str, TargetImage] = {}
        self._catalogue: Catalogue | None = None
        self.swept: list[Removed] = []
        self.closed = False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = engine.connect()
            engine.configure_reaper(self._client)
            self.swept = ownership.sweep_orphans(self._client)
            for item in self.swept:
                self.progress(f"removed orphaned {item.kind} {item.name} (run {item.run}, its harness process is gone)")
        return self._client

    @property
    def image(self) -> TargetImage:
        if self._image is None:
            self._image = ensure_image(self.client, self.settings, self.progress)
        return self._image

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        return self._catalogue

    def image_variant(self, variant: str | None) -> TargetImage:
        """The target image, or a variant of it built from docker/VARIANT (e.g. "puppet") on first use."""
        if variant is None:
            return self.image
        if variant not in self._variants:
            self._variants[variant] = ensure_variant(self.client, self.settings, self.image, variant, self.progress)
        return self._variants[variant]

    def new_target(
        self, capabilities: tuple[str, ...] = (), labels: dict[str, str] | None = None, image: str | None = None
    ) -> Target:
        """An unstarted Target on this session's image (or IMAGE); start it with `with`."""
        if self.closed:
            raise HarnessError(f"session {self.run_id} is closed; open a new Session")
        bind, host = engine.published_on()
        return Target(
            image or self.image.tag,
            run_id=self.run_id,
            labels=labels,
            capabilities=capabilities,
            probe_timeout=self.settings.probe_timeout,
            ready_timeout=self.settings.ready_timeout,
            bind_address=bind,
            host=host,
            site=self.site,
            startup=(start_up,) if self.site is not None else (),
        )

    def scenarios(self, names: list[str] | None = None) -> tuple[list[Scenario], list[tuple[str, str]]]:
        """The scenarios to drill (NAMES, or the catalogue) and, on a site, those skipped with the reason.

        Asked for by name, a scenario that cannot apply to the site is bad input; in the whole catalogue it is
        skipped, and the reason is said.
        """
        chosen, skipped = [], []
        for name in names if names is not None else self.catalogue.names():
            scenario = self.catalogue.get(name)
            reason = missing(scenario.needs, self.site)
            if reason and names is not None:
                raise InvalidInput(
                    f"scenario {name!r} does not apply to --site {self.site.folder if self.site else ''}: {reason}"
                )
            if reason:
                skipped.append((name, reason))
            else:
                chosen.append(scenario)
        return chosen, skipped

    def preflight(self) -> list[str]:
        """On a site: lay it into one target and record its probes before any drill, so a bad tree is one line."""
        if self.site is None:
            return []
        with self.new_target(labels={"harness.role": "preflight"}) as target:
            return [*target.site_notes, *(f"probe {c.label()}: {c.expectation()}" for c in target.checks)]

    def leftovers(self) -> list[str]:
        """Names of containers of this run that still exist."""
        with boundary("listing this run's containers"):
            found = self.client.containers.list(
                all=True,
                ignore_removed=True,
                filters={"label": [f"{ownership.MANAGED}=true", f"{ownership.RUN}={self.run_id}"]},
            )
        return [str(c.name) for c in found]

    def remove_targets(self) -> list[Removed]:
        """Remove every container of this run now (drills still using them end with an error)."""
        if self._client is None:
            return []
        with deferred_signals():
            return ownership.remove_run(self._client, self.run_id)

    def close(self) -> list[Removed]:
        if self.closed:
            return []
        self.closed = True
        if self._client is None:
            return []
        with deferred_signals():
            removed = ownership.remove_run(self._client, self.run_id)
            self._client.close()
        return removed
