# The known-good record's part of the doctor's second round trip: what a repair may need to put back.
# Arguments: USER, then groups introduced by a marker word: -p PATH... (stat each), -l DIR... (stat what each
# holds, one level down), -L DIR... (two levels down, at most 400 paths: a folder moved beside it is known by what it
# holds), -c FILE... (send the bytes of each, when small). Every value is an argument, never shell text.
export LC_ALL=C
r() { printf '\n@@harness-record %s\n' "$1"; }
user=$1; shift
p=''; l=''; L=''; c=''; mode=p
for a; do
  case $a in
    -p) mode=p ;; -l) mode=l ;; -L) mode=L ;; -c) mode=c ;;
    *) case $mode in p) p="$p$a
" ;; l) l="$l$a
" ;; L) L="$L$a
" ;; c) c="$c$a
" ;; esac ;;
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
r users
getent passwd "$user"; getent group "$(id -gn "$user" 2>/dev/null)"; printf 'groups:%s\n' "$(id -Gn "$user" 2>/dev/null)"
r end
