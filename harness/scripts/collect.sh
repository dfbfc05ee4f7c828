
export LC_ALL=C
s() { printf '\n@@harness-section %s\n' "$1"; }
s ps;          ps -eo pid=,ppid=,stat=,comm=,args= | grep -v -e '@@harness-section' || true
s pidfile;     cat /run/nginx.pid 2>/dev/null || true
t=$(nginx -t 2>&1); rc=$?
s configtest;  printf '%s\nexit=%s\n' "$t" "$rc"
# Only a failing test names a file, or a file it could not open: a passing one skips both pipelines.
s configfile;  [ "$rc" = 0 ] || f=$(printf '%s\n' "$t" | sed -n 's/.*\] .* in \(\/[^:]*\):[0-9]*$/\1/p' | head -n 1)
               [ -n "$f" ] && printf '%s\t%s\n' "$f" "$(readlink -f "$f")"
s missing;     case $t in *'open() "'*) ;; *) t='' ;; esac
               [ -z "$t" ] || printf '%s\n' "$t" | sed -n 's/.*open() "\([^"]*\)" failed (2: .*/\1/p' | sort -u |
               while read -r f; do
                 dir=$(dirname "$f"); [ -d "$dir" ] && e=present || e=missing
                 printf '%s\t%s\t%s\n' "$f" "$dir" "$e"
               done
# One directive per line, so `server { listen 80; root /srv; }` written on one line is read too.
# One awk pass picks every directive read below (in file order); the shell then reads them without forking.
dirs=$(nginx -T 2>/dev/null | sed -e 's/#.*//' -e 's/[{};]/&\n/g' | awk '
  { sub(/^[ \t]+/, "") }
  /^(user|root|index|listen|worker_connections|worker_rlimit_nofile|error_log)[ \t]+[^;]*;/ {
    k = $1; v = substr($0, length(k) + 1); sub(/^[ \t]+/, "", v); sub(/;.*/, "", v); print k "\t" v }')
user=''; index=''; roots=''; logs='/var/log/nginx/error.log'
prefix=$(nginx -V 2>&1 | sed -n 's/.*--prefix=\([^ ]*\).*/\1/p' | head -n 1)
while IFS="$(printf '\t')" read -r k v; do
  case $k in
    user) [ -n "$user" ] || user=${v%% *} ;;
    error_log) v=${v%% *}; case $v in /*) case " $logs " in *" $v "*) ;; *) logs="$logs $v" ;; esac ;; esac ;;
    index) [ -n "$index" ] || index=$v ;;
    root) case $v in /*|'$'*) ;; *) [ -n "$prefix" ] && v="${prefix%/}/$v" ;; esac; roots="$roots$v
" ;;
  esac
done <<EOF
$dirs
EOF
s prefix;      printf '%s\n' "$prefix"
s directives;  [ -n "$dirs" ] && printf '%s\n' "$dirs" | sort -u
s docroot;     printf '%s' "$roots" | sort -u | while read -r r; do
                 [ -d "$r" ] && k=dir || k=missing
                 runuser -u "${user:-www-data}" -- test -r "$r" -a -x "$r" 2>/dev/null && a=readable || a=unreadable
                 found=''; for i in ${index:-index.html}; do [ -f "$r/$i" ] && found="$found$i,"; done
                 printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$k" "$a" "${found%,}" "${user:-www-data}"
               done
s listen;      ss -ltnpH 2>/dev/null || true
s available;   find /etc/nginx/sites-available -mindepth 1 -maxdepth 1 -printf '%y\t%f\t%l\n' 2>/dev/null || true
s enabled;     find /etc/nginx/sites-enabled -mindepth 1 -maxdepth 1 -printf '%y\t%Y\t%f\t%l\n' 2>/dev/null || true
svcs=$(for f in /etc/init.d/*; do
         [ -x "$f" ] || continue; n=${f##*/}
         case $n in rc|rcS|README|skeleton|*.sh) continue ;; esac
         "$f" status >/dev/null 2>&1 && printf '%s\trunning\n' "$n" || printf '%s\tstopped\n' "$n"
       done)
s service;     case "$svcs" in *"nginx	running"*) echo "exit=0" ;; *) echo "exit=3" ;; esac
s limits;      m=$(cat /run/nginx.pid 2>/dev/null)
               [ -n "$m" ] && sed -n 's/^Max open files *\([0-9a-z]*\).*/\1/p' "/proc/$m/limits" 2>/dev/null
               # Workers may run under their own limit (worker_rlimit_nofile): they are the ones that open files.
               # and when the newest started, in error.log's own time format: its lines before that are history.
               # From the kernel's start time in clock ticks, not ps's whole elapsed seconds: those round the start
               # up to a second late, and a line written in the second the workers started (a failed reload's bind
               # error) would be taken for history.
               e=''; hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
               boot=$(awk '$1 == "btime" { print $2 }' /proc/stat 2>/dev/null)
               [ -n "$m" ] && for w in $(ps -o pid= --ppid "$m" 2>/dev/null); do
                 sed -n 's/^Max open files *\([0-9a-z]*\).*/worker:\1/p' "/proc/$w/limits" 2>/dev/null
                 # Field 22 counted from the end of the command name, which may hold spaces.
                 t=$(sed 's/.*) //' "/proc/$w/stat" 2>/dev/null | cut -d' ' -f20)
                 [ -n "$t" ] && [ -n "$boot" ] && { [ -z "$e" ] || [ "$(( boot + t / hz ))" -gt "$e" ]; } && e=$(( boot + t / hz ))
               done
               [ -n "$e" ] && date -d "@$e" '+started:%Y/%m/%d %H:%M:%S'
               grep -n '^[[:space:]]*ULIMIT=' /etc/default/nginx 2>/dev/null | sed 's/^/default-nginx:/' || true
s firewall;    iptables -w 2 -S 2>&1; echo "exit=$?"
# The default gateway: where requests from outside arrive from behind Docker's published port (its proxy).
s gateway;     awk '$2 == "00000000" { print $3; exit }' /proc/net/route 2>/dev/null || true
s backups;     find /var/backups/nginx -type f -printf '%P\n' 2>/dev/null | sort || true
# Every error log the configuration names (a site may log to its own): the newest 20 lines of each.
s errorlogs;   printf '%s\n' $logs
s errorlog;    for f in $logs; do tail -n 20 "$f" 2>/dev/null; done || true
s services;    [ -n "$svcs" ] && printf '%s\n' "$svcs"
s conftar;     tar -C / -cf - etc/nginx 2>/dev/null | base64 | tr -d '\n'; echo
# etckeeper's repository, the team's own record of /etc (harness.team_record), when it is small enough to carry.
s etcgit;      [ -d /etc/.git ] && [ "$(du -sk /etc/.git 2>/dev/null | cut -f1)" -lt 8192 ] && \
               tar -C / -cf - etc/.git 2>/dev/null | base64 | tr -d '\n'; echo
