#!/bin/sh
# Not idempotent: it appends a listen line each time it runs; the second copy
# is a duplicate that fails nginx's config test.
set -e
ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
sed -i 's/^\(\s*server_name .*\)$/\1\n    listen 8080;/' /etc/nginx/sites-available/default
service nginx restart
