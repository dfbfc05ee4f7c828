#!/bin/bash
# Written on the broken server and only ever run there: it toggles the site
# link, so on a server that was never broken it takes the site down.
link=/etc/nginx/sites-enabled/default
if [ -L "$link" ]; then
    rm "$link"
else
    ln -s /etc/nginx/sites-available/default "$link"
fi
service nginx restart
