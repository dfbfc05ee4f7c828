# An API behind nginx, limited harder than the pages, with websocket upgrades passed through.
server {
    listen 80;
    server_name api.example.com;

    location / {
        limit_req zone=api burst=1;
        proxy_pass http://127.0.0.1:8090;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
    }
}
