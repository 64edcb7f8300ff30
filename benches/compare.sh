#!/usr/bin/env bash
# Compares the CPU cost of two redoflow binaries on a shared (noisy) host.
#
#   benches/compare.sh OLD_BINARY NEW_BINARY [ROUNDS] [CHANGES]
#
# Each round runs `redoflow bench --changes CHANGES` with both binaries at the same time, one
# pinned to each of the first two cores, swapping the cores every round: whatever the
# neighbours do to the machine during a round, they do to both runs. Prints each round's user +
# system CPU seconds and the median of NEW/OLD over the rounds. Run with one binary twice to see
# the method's own spread (on the development VM: medians within ±3% over 10 rounds).
set -euo pipefail
old=${1:?usage: compare.sh OLD_BINARY NEW_BINARY [ROUNDS] [CHANGES]}
new=${2:?usage: compare.sh OLD_BINARY NEW_BINARY [ROUNDS] [CHANGES]}
rounds=${3:-20}
changes=${4:-1000000}
[ "$(nproc)" -ge 2 ] || { echo "needs two cores" >&2; exit 1; }
for tool in /usr/bin/time taskset; do
  command -v "$tool" >/dev/null || { echo "needs $tool (GNU time, util-linux)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ratios=()
for i in $(seq "$rounds"); do
  if (( i % 2 )); then a=0; b=1; else a=1; b=0; fi
  /usr/bin/time -o "$tmp/old.t" -f "%U %S" taskset -c "$a" "$old" bench --changes "$changes" --out "$tmp/old" >/dev/null 2>&1 &
  p_old=$!
  /usr/bin/time -o "$tmp/new.t" -f "%U %S" taskset -c "$b" "$new" bench --changes "$changes" --out "$tmp/new" >/dev/null 2>&1 &
  p_new=$!
  wait "$p_old" "$p_new"
  rm -rf "$tmp/old" "$tmp/new"
  o=$(awk '{print $1 + $2}' "$tmp/old.t")
  n=$(awk '{print $1 + $2}' "$tmp/new.t")
  r=$(awk -v o="$o" -v n="$n" 'BEGIN {printf "%.3f", n / o}')
  ratios+=("$r")
  echo "round $i: old ${o}s new ${n}s new/old $r"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median new/old over %d rounds: %.3f (min %.3f, max %.3f)\n", NR, m, v[1], v[NR]}'
