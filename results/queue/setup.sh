#!/usr/bin/env bash
# setup.sh: (re)make the clean worktrees the queues run from, each at its commit, with results/ set to
# the committed records of the main checkout (so finished cells are skipped). Run from anywhere.
set -eu
MAIN=${MAIN:-/work/main}; RUNS=${RUNS:-/work/runs}
mkdir -p "$RUNS"; cd "$MAIN"
for p in "wtD bff2e50" "wtC 159f3c4" "wtI bd110d1" "wtH 1f65730"; do
  set -- $p
  fresh=0; [ -d "$RUNS/$1" ] || { git worktree add -q --detach "$RUNS/$1" "$2"; fresh=1; }
  for T in $(ls results/runs); do
    # a fresh worktree's records become exactly the committed ones; an existing one keeps its new records
    [ $fresh = 1 ] && rm -rf "$RUNS/$1/results/runs/$T"
    mkdir -p "$RUNS/$1/results/runs/$T"; cp -r "results/runs/$T/." "$RUNS/$1/results/runs/$T/"
  done
done
git worktree list
