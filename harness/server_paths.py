"""Paths on the server that more than one layer names (the doctor reads them, remedies write them)."""

from __future__ import annotations

# Where remedies keep what they move aside (a rejected config, stale copies), and where the doctor looks for them.
BACKUP_DIR = "/var/backups/nginx"
