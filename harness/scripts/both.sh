# Two constant programs in one round trip: $1 runs with the next COUNT ($3) arguments, $2 with the rest.
# eval only ever sees positional references ("${4}"), never a value.
one=$1; two=$2; n=$3; shift 3
i=1; first=''
while [ "$i" -le "$n" ]; do first="$first \"\${$i}\""; i=$((i + 1)); done
second=''
while [ "$i" -le "$#" ]; do second="$second \"\${$i}\""; i=$((i + 1)); done
eval "sh -c \"\$one\" sh $first"
eval "sh -c \"\$two\" sh $second"
