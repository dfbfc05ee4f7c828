# The known-good record's part of the doctor's second round trip: what a repair may need to put back.
# Arguments: USER, then groups introduced by a marker word: -p PATH... (stat each), -l DIR... (stat what each
# holds, one level down), -L DIR... (two levels down, at most 400 paths: a folder moved beside it is known by what it
# holds), -c FILE... (send the bytes of each, when small), -q METHOD URL RESOLVE HEADERS... (replay each request as
# the client sent it: RESOLVE is curl's host:port:127.0.0.1 or "", HEADERS one per line). Every value is an argument,
# never shell text.
export LC_ALL=C
r() { printf '\n@@harness-record %s\n' "$1"; }
user=$1; shift
p=''; l=''; L=''; c=''; mode=p; q=0; answers=''
# One request, as the client sent it, answered by nginx inside: status, Location, a digest of the body.
replay() {
  m=$1; u=$2; to=$3; hs=$4; set --
  [ -n "$to" ] && set -- --resolve "$to"
  while IFS= read -r x; do [ -n "$x" ] && set -- "$@" -H "$x"; done <<HEADERS
$hs
HEADERS
  b=$(mktemp) || return 0
  w=$(curl -s -k -m 2 -X "$m" "$@" -o "$b" -w '%{http_code}\t%{redirect_url}' -- "$u" 2>/dev/null)
  d=$(sha256sum < "$b" | cut -c1-64); rm -f "$b"
  printf '%s\t%s\t%s\t%s\n' "$m" "$u" "$w" "$d"
}
for a; do
  case $a in
    -p) mode=p ;; -l) mode=l ;; -L) mode=L ;; -c) mode=c ;; -q) mode=q ;;
    *) case $mode in p) p="$p$a
" ;; l) l="$l$a
" ;; L) L="$L$a
" ;; c) c="$c$a
" ;; q) q=$((q + 1)); eval "q$q=\$a"
           if [ "$q" = 4 ]; then answers="$answers$(replay "$q1" "$q2" "$q3" "$q4")
"; q=0; fi ;; esac ;;
  esac
done
fmt='%p\t%y\t%m\t%u\t%g\t%i\t%s\t%l\n'
# One find for the named paths, one per listed folder: type, mode, owner, group, inode, size, link target.
r stat
printf '%s' "$p" | tr '\n' '\0' | find -files0-from - -maxdepth 0 -printf "$fmt" 2>/dev/null
printf '%s' "$l" | while IFS= read -r d; do find "$d" -mindepth 1 -maxdepth 1 -printf "$fmt" 2>/dev/null; done
printf '%s' "$L" | while IFS= read -r d; do find "$d" -mindepth 1 -maxdepth 2 -printf "$fmt" 2>/dev/null | head -n 400; done
# A digest of every regular file up to 1 MiB but logs (they change by the second, and are nginx's to write): a file
# gone here and one that appeared with its digest is a move.
r digest
{ printf '%s' "$p" | tr '\n' '\0' | find -files0-from - -maxdepth 0 -type f -size -1025k ! -name '*.log*' -print0 2>/dev/null
  printf '%s' "$l" | while IFS= read -r d; do find "$d" -mindepth 1 -maxdepth 1 -type f -size -1025k ! -name '*.log*' -print0 2>/dev/null; done
  printf '%s' "$L" | while IFS= read -r d; do
    find "$d" -mindepth 1 -maxdepth 2 -type f -size -1025k ! -name '*.log*' -print0 2>/dev/null | head -z -n 400; done
} | xargs -r -0 sha256sum -- 2>/dev/null
r content
printf '%s' "$c" | tr '\n' '\0' | find -files0-from - -maxdepth 0 -type f -size -65k -print0 2>/dev/null |
  tar --null -T - -b 1 -cf - 2>/dev/null | base64 | tr -d '\n'; echo
r replay
printf '%s' "$answers"
r users
getent passwd "$user"; getent group "$(id -gn "$user" 2>/dev/null)"; printf 'groups:%s\n' "$(id -Gn "$user" 2>/dev/null)"
r end
