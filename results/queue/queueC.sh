#!/usr/bin/env bash
# Other core: Lt-Di Table 3 from 159f3c4, then wtH's queue (1f65730).
export MCDI_DATA=/work/shared/data
run() { local wt=$1 s=$2 log=$3; shift 3; echo "== $(date -u +%FT%TZ) $wt $s $*"; (cd /work/runs/$wt && MCDI_CACHE=/work/runs/cache_$wt PYTHONPATH=$PWD python reproduce/$s.py --profile cpu --results /work/runs/$wt/results "$@" > /work/runs/$log.log 2>&1); echo "== rc $? $(date -u +%FT%TZ)"; }
run wtC ltdi_table3 ltdi_table3C
run wtH ltdi_table5 ltdi_table5
for s in figure6 figure4 figure8_9; do run wtH $s $s --datasets mini-imagenet; done
for s in ltdi_figure5 ltdi_figure3 ltdi_figure7_8 ltdi_figure6; do run wtH $s $s; done
run wtH table5 table5_p24 --set patience=24
