# Relinks the site but never tells nginx: the running nginx keeps its old config.
ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
