# A blog nobody thought to limit.
server {
    listen 80;
    server_name blog.example.com;
    root /srv/blog;
    index index.html;
}
