# The main site, rate limited per client: 5 requests a second, a burst of 2.
server {
    listen 80;
    listen [::]:80;
    server_name www.example.com example.com;
    root /srv/www;
    index index.html;

    limit_req zone=pages burst=2 nodelay;
    limit_conn perip 10;

    location / {
        try_files $uri $uri/ =404;
    }
}
