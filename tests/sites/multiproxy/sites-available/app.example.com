# A Node-style reverse proxy with several proxied locations: /admin/ (a unix-socket upstream) before /api/ (an
# upstream block with a backup), everything else tried as a file and then handed to the app (try_files ... @app),
# and static assets from a root set inside their location. Listen lines as people write them.
upstream api_pool {
    server 127.0.0.1:3001;
    server 127.0.0.1:3002 backup;
}

upstream admin_socket {
    server unix:/run/admin/admin.sock;
}

server {
    listen          *:80 default_server;
    listen [::]:80 default_server ipv6only=on;
    server_name app.example.com;
    root /var/www/app;

    location /admin/ {
        proxy_pass http://admin_socket;
        proxy_set_header Host $host;
    }

    location /api/ {
        proxy_pass http://api_pool/;
        proxy_set_header Host $host;
        proxy_connect_timeout 2s;
    }

    location /static/ {
        root /var/www/assets;
    }

    location / {
        try_files $uri @app;
    }

    location @app {
        proxy_pass http://127.0.0.1:3000;
        proxy_set_header Host $host;
    }
}
