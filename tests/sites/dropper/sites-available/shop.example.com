# A shop behind a default server that drops unknown names (conf.d/00-default.conf), with its own rate limit
# and a www redirect written as an if: shapes common in public configurations.
limit_req_zone $binary_remote_addr zone=perip:10m rate=50r/s;

server {
    listen 80;
    listen [::]:80;
    server_name shop.example.com www.shop.example.com;
    root /var/www/shop;
    index index.html;

    if ($host = www.shop.example.com) {
        return 301 http://shop.example.com$request_uri;
    }

    location / {
        limit_req zone=perip burst=100 nodelay;
        try_files $uri $uri/ =404;
    }

    location = /robots.txt { access_log off; log_not_found off; }
}
