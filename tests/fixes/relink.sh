#!/bin/bash
# The runbook fix for the original outage: re-enable the default site, test, restart.
set -euo pipefail
sudo ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
sudo nginx -t
sudo service nginx restart
