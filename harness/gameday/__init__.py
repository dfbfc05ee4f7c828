"""Game-day rehearsals: a really broken server, a watcher that owns it, a dashboard, hints and a postmortem draft."""
