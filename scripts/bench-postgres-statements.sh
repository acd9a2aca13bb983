#!/usr/bin/env bash
# Server-side half of docs/PERFORMANCE.md's PostgreSQL analysis: runs the
# two statements of one AuthenticateDevice (LoadUser, then AcceptStep with
# its lockout check, as sqlstore sends them, each in its own implicit
# transaction) from pgbench's C client, so that the Go client's CPU is out
# of the picture, and compares them with pgbench -N on the same server. A
# third run sends LoadUser alone, to tell the read's cost from the write's.
#
# Usage: scripts/bench-postgres-statements.sh
# Environment: MFA_TEST_POSTGRES_DSN, PGBENCH_DB, SECONDS_PER_RUN (default
# 10), ROUNDS (default 3), as scripts/bench-postgres.sh.
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"

cd "$(dirname "$0")/.."

dsn="${MFA_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
pgbench_db="${PGBENCH_DB:-mfa_pgbench}"
seconds="${SECONDS_PER_RUN:-10}"
rounds="${ROUNDS:-3}"
schema=mfa_bench_statements
users=10000

base="${dsn%%\?*}"
query=""
[ "$base" != "$dsn" ] && query="?${dsn#*\?}"
server="${base%/*}"
pgbench_dsn="$server/$pgbench_db$query"
admin_dsn="$server/postgres$query"
sep='?'
[ -n "$query" ] && sep='&'
schema_dsn="$dsn${sep}options=-csearch_path%3D$schema"

if [ "$(psql "$admin_dsn" -tAc "SELECT 1 FROM pg_database WHERE datname = '$pgbench_db'")" != 1 ]; then
	psql "$admin_dsn" -qc "CREATE DATABASE $pgbench_db"
fi
pgbench -i -s 10 -q "$pgbench_dsn" 2>&1 | tail -n 1

# The sqlstore schema, filled with enrolled users: a verified device, ten
# recovery codes, a code set and a lockout row at zero each.
psql "$dsn" -q -v ON_ERROR_STOP=1 <<EOF
DROP SCHEMA IF EXISTS $schema CASCADE;
CREATE SCHEMA $schema;
SET search_path = $schema;
$(for f in sqlstore/migrations/postgres/*.sql; do echo "\\i $f"; done)
INSERT INTO mfa_devices (id, user_id, type, alias, account_name, secret, verified, created_at, verified_at, last_used_at, last_step)
	SELECT 'dev-' || i, 'user-' || i, 'totp', '', 'user-' || i, sha256(('s' || i)::bytea) || sha256(('t' || i)::bytea), TRUE, now(), now(), now(), 1
	FROM generate_series(1, $users) i;
INSERT INTO mfa_recovery_code_sets (user_id, key_id, created_at) SELECT 'user-' || i, 'k', now() FROM generate_series(1, $users) i;
INSERT INTO mfa_recovery_codes (user_id, hash)
	SELECT 'user-' || i, sha256(('c' || i || '-' || j)::bytea) FROM generate_series(1, $users) i, generate_series(0, 9) j;
INSERT INTO mfa_lockouts (user_id, failures) SELECT 'user-' || i, 0 FROM generate_series(1, $users) i;
VACUUM ANALYZE mfa_devices, mfa_recovery_code_sets, mfa_recovery_codes, mfa_lockouts;
EOF
dir="$(mktemp -d)"
trap 'rm -rf "$dir"; psql "$dsn" -qc "DROP SCHEMA IF EXISTS $schema CASCADE"' EXIT
# The statements of sqlstore/internal/queries, LoadUserPostgreSQL and
# AcceptStepZeroLockoutPostgreSQL (AcceptStep for a code checked against
# the zero lockout state), as printquery gives them, with the parameters
# in pgbench's terms: user and device number :i, now() as the time, and
# the clock in microseconds as the time step, so that every AcceptStep
# advances.
query() { go run ./sqlstore/internal/queries/printquery "$1" | tr '\n\t' '  '; }
user="('user-' || :i)"
load="$(query LoadUserPostgreSQL | sed -e "s/\\\$1/$user/g" -e 's/\$2/now()/g');"
accept="$(query AcceptStepZeroLockoutPostgreSQL | sed -e "s/\\\$1/$user/g" -e "s/\\\$2/('dev-' || :i)/g" \
	-e 's/\$3/(extract(epoch FROM clock_timestamp()) * 1e6)::bigint/g' -e 's/\$4/now()/g');"
printf '\\set i random(1, %d)\n%s\n%s\n' "$users" "$load" "$accept" >"$dir/auth.sql"
printf '\\set i random(1, %d)\n%s\n' "$users" "$load" >"$dir/load.sql"

tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p'; }
declare -a n_runs s_runs l_runs
for round in $(seq 1 "$rounds"); do
	n="$(pgbench -N -c 8 -j 2 -T "$seconds" -M prepared "$pgbench_dsn" 2>&1 | tps)"
	s="$(pgbench -n -c 8 -j 2 -T "$seconds" -M prepared -f "$dir/auth.sql" "$schema_dsn" 2>&1 | tps)"
	l="$(pgbench -n -c 8 -j 2 -T "$seconds" -M prepared -f "$dir/load.sql" "$schema_dsn" 2>&1 | tps)"
	echo "-- round $round: pgbench -N $n tps; sqlstore's login statements $s auth/s; LoadUser alone $l/s"
	n_runs+=("$n")
	s_runs+=("$s")
	l_runs+=("$l")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk -v n="$(median "${n_runs[@]}")" -v s="$(median "${s_runs[@]}")" -v l="$(median "${l_runs[@]}")" 'BEGIN {
	printf "== medians: pgbench -N %.0f tps\n", n
	printf "==   sqlstore login (LoadUser, AcceptStep) %.0f auth/s = %.2f of -N\n", s, s / n
	printf "==   LoadUser alone                        %.0f /s     = %.2f of -N\n", l, l / n
}'
