#!/usr/bin/env bash
# The layer rules of docs/architecture.md as greps over src/ (tests/layers.rs checks the same,
# and also grouped imports and cycles between the files of one folder). Prints each violation;
# exits 1 when there is one.
set -uo pipefail
cd "$(dirname "$0")/../src"

# module: the modules it must not use (every higher layer; power and selection are siblings).
rules=(
  "error.rs:channel|library|power|selection|solve|latency|backend|gpu|study"
  "channel:library|power|selection|solve|latency|backend|gpu|study"
  "library:power|selection|solve|latency|backend|gpu|study"
  "power:selection|solve|latency|backend|gpu|study"
  "selection:power|solve|latency|backend|gpu|study"
  "solve.rs:latency|backend|gpu|study"
  "latency:solve|backend|gpu|study"
  "backend:gpu|study"
  "gpu:study"
)
bad=0
for rule in "${rules[@]}"; do
  module=${rule%%:*}
  higher=${rule#*:}
  # Code only: drop // comments first.
  hits=$(grep -rnE "crate::($higher)\b" "$module" | grep -vE '^[^:]+:[0-9]+:\s*//')
  if [ -n "$hits" ]; then
    echo "$module uses a higher layer:"; echo "$hits"; bad=1
  fi
done
# Application concerns stay in src/app/.
hits=$(grep -rnE '\b(clap|indicatif)\b|e?println!|std::process::exit' --include=*.rs . \
  | grep -v '^\./app/' | grep -vE '^[^:]+:[0-9]+:\s*//')
if [ -n "$hits" ]; then
  echo "outside src/app/:"; echo "$hits"; bad=1
fi
[ $bad = 0 ] && echo "layers: ok"
exit $bad
