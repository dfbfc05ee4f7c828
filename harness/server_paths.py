"""Paths on the server that more than one layer names (the doctor reads them, remedies write them).

They are Debian's and Ubuntu's nginx layout, which the target image has; the target lays and controls them too.
"""

from __future__ import annotations

CONF_ROOT = "/etc/nginx"
MAIN_CONF = f"{CONF_ROOT}/nginx.conf"
SITES_AVAILABLE = f"{CONF_ROOT}/sites-available"
SITES_ENABLED = f"{CONF_ROOT}/sites-enabled"
CONF_D = f"{CONF_ROOT}/conf.d"
PIDFILE = "/run/nginx.pid"
ERROR_LOG = "/var/log/nginx/error.log"
# The root of a server or location that names none: nginx's compiled-in "html" under its prefix (Debian's).
DEFAULT_ROOT = "/usr/share/nginx/html"

# Where remedies keep what they move aside (a rejected config, stale copies), and where the doctor looks for them.
BACKUP_DIR = "/var/backups/nginx"
