#!/usr/bin/env bash
# syncwt.sh WORKTREE "commit message" TABLE...: copy a worktree's NEW records into /work/main,
# report records that differ, regenerate those tables and REPORT.md, commit results/.
set -u
wt=$1; msg=$2; shift 2
cd /work/main
n=0
for T in "$@"; do
  src=$wt/results/runs/$T; [ -d "$src" ] || continue
  while IFS= read -r f; do
    rel=${f#$wt/}
    if [ ! -e "$rel" ]; then mkdir -p "$(dirname "$rel")"; cp "$f" "$rel"; n=$((n+1)); echo "new $rel";
    elif ! cmp -s "$f" "$rel"; then echo "DIFFERS $rel"; fi
  done < <(find "$src" -name '*.json' -type f)
done
echo "copied $n new records"
[ $n -gt 0 ] || exit 0
for T in "$@"; do S=$T; [ $T = mh ] && S=hypernetwork_stability
  [ -d results/runs/$T ] && MCDI_DATA=/work/shared/data python reproduce/$S.py --profile cpu --table-only --no-progress --allow-shrink > /dev/null || echo "regen $T failed"; done
python reproduce/report.py > /dev/null || echo "report failed"
git add results && git commit -q -m "$msg" && git log --oneline -1
