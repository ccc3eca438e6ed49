#!/bin/bash
# internal/tools/connflood/flood.sh BINARY PORT, from the repository root: runs doorbelld -demo on 127.0.0.1:PORT and connflood against it.
bin=$1; port=$2
out=$(mktemp); "$bin" -demo -listen 127.0.0.1:$port >"$out" 2>/dev/null & pid=$!
for i in $(seq 1 600); do grep -q 'pair#' "$out" && break; sleep 0.1; done
link=$(grep -o "https://[^ ]*pair#[^ ]*" "$out" | head -1)
sleep 3
go run ./internal/tools/connflood -pid $pid -pair "$link" -hold 40s
kill $pid; wait $pid
