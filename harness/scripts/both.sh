# Two constant programs in one round trip, side by side: $1 runs with the next COUNT ($3) arguments, $2 with the
# rest; the second's output follows the first's. eval only ever sees positional references ("${4}"), never a value.
one=$1; two=$2; n=$3; shift 3
i=1; first=''
while [ "$i" -le "$n" ]; do first="$first \"\${$i}\""; i=$((i + 1)); done
second=''
while [ "$i" -le "$#" ]; do second="$second \"\${$i}\""; i=$((i + 1)); done
out=$(mktemp) || out=/dev/null
eval "sh -c \"\$two\" sh $second" > "$out" 2>/dev/null &
eval "sh -c \"\$one\" sh $first"
wait
[ "$out" = /dev/null ] || { cat "$out"; rm -f "$out"; }
