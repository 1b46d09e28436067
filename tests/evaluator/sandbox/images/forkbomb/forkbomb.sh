# Fork bomb. The main shell then counts the processes it can see (builtins only:
# no fork is possible once the pids limit is reached), reports, and spins.
bomb() { bomb | bomb & }
bomb
while [ "$SECONDS" -lt 2 ]; do :; done
n=0
for d in /proc/[0-9]*; do n=$((n + 1)); done
echo "{\"procs\": $n}"
while :; do :; done
