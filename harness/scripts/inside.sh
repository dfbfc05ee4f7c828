export LC_ALL=C
user=$1; shift
s() { printf '\n@@harness-inside %s\n' "$1"; }
[ "$1" = -p ] && shift
paths=''
while [ $# -gt 0 ] && [ "$1" != -f ] && [ "$1" != -u ]; do paths="$paths$1
"; shift; done
s stat
printf '%s' "$paths" | xargs -r -d '\n' stat --printf '%n\t%F|%a|%U|%s|%Y\n' -- 2>/dev/null
s access
# With no such user, nothing is readable by it.
printf '%s' "$paths" | xargs -r -d '\n' runuser -u "$user" -- sh -c \
  'for p; do r=n; x=n; [ -r "$p" ] && r=y; [ -x "$p" ] && x=y; printf "%s\t%s%s\n" "$p" "$r" "$x"; done' \
  sh 2>/dev/null || printf '%s' "$paths" | sed 's/$/\tnn/'
mode=''; logs=''
# nginx's error log stamps local time to the second, as date does here: only lines from this second on are about
# the requests below (an older line about the same path is a past failure, perhaps one already repaired).
s began
date '+%Y/%m/%d %H:%M:%S'
while [ $# -gt 0 ]; do
  case $1 in
    -f) mode=f; s fetches; shift; continue ;;
    -u) mode=u; wait; s upstreams; shift; continue ;;
    -e) mode=e; shift; continue ;;
  esac
  case $mode in
    # Fetches run side by side, each with the probe's own 1 s timeout (a hung server makes each wait it);
    # each prints one line in one short write.
    # An https URL is asked over TLS with the host as its SNI name, as a browser would (plain HTTP to an ssl
    # port is answered 400 whatever the site's state).
    f) ( if ! command -v curl >/dev/null; then c=skipped
         else case $2 in
           https://*) r=${2#https://127.0.0.1:}; p=${r%%/*}; h=${1%%:*}; h=${h:-localhost}
              c=$(curl -s -k -o /dev/null -m 1 --resolve "$h:$p:127.0.0.1" -w '%{http_code}' "https://$h:$p/${r#*/}") ;;
           *) c=$(curl -s -o /dev/null -m 1 -H "Host: $1" -w '%{http_code}' "$2") ;;
         esac; fi
         printf '%s\t%s\t%s\n' "$1" "$2" "$c" ) &
       shift 2 ;;
    u) ( case $1 in
           unix:*) p=${1#unix:}; [ -S "$p" ] && c=socket || c=nosocket ;;
           http://*|https://*) c=skipped
              command -v curl >/dev/null && c=$(curl -s -k -o /dev/null -m 1 -w '%{http_code}' "$1") ;;
           *) a=${1#*://}; a=${a%/}; port=${a##*:}  # FastCGI, uwsgi, gRPC: is anything listening there
              ss -ltnH "sport = :$port" | grep -q . && c=listening || c=000 ;;
         esac
         printf '%s\t%s\n' "$1" "$c" ) &
       shift ;;
    e) logs="$logs$1
"; shift ;;
    *) shift ;;
  esac
done
wait
# What nginx wrote while answering the requests above: its own words on why one failed.
s errors
printf '%s' "$logs" | while read -r f; do tail -n 40 -- "$f" 2>/dev/null; done
s end
