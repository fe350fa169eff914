#!/usr/bin/env bash
# One core: Table 6 from a clean worktree of bff2e50, then Table 7 and Lt-Di Tables 7-8 from bd110d1.
export MCDI_DATA=/work/shared/data MCDI_CACHE=/work/runs/cacheA
run() { local wt=$1 s=$2; shift 2; echo "== $(date -u +%FT%TZ) $wt $s $*"; (cd /work/runs/$wt && PYTHONPATH=$PWD python reproduce/$s.py --profile cpu --results /work/runs/$wt/results "$@" > /work/runs/$s.log 2>&1); echo "== rc $? $(date -u +%FT%TZ)"; }
run wtD table6
for s in table7 ltdi_table7 ltdi_table8; do run wtI $s; done
