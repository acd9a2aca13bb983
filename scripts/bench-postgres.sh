#!/usr/bin/env bash
# Compares sqlstore's AuthenticateDevice throughput on PostgreSQL with
# pgbench -N on the same server, in the same run: pgbench and the Go
# benchmark alternate ROUNDS times, and the script prints each result, the
# medians and the ratio Go / pgbench (DESIGN.md's target: at least 0.80).
# See docs/PERFORMANCE.md, "PostgreSQL and SQLite".
#
# Usage: scripts/bench-postgres.sh
# Environment (all optional):
#   MFA_TEST_POSTGRES_DSN  database the Go benchmark creates a scratch schema
#                          in (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
#   PGBENCH_DB             scratch database for pgbench, created and
#                          initialised with pgbench -i -s 10 (default mfa_pgbench)
#   CLIENTS                concurrent clients for both (default 8)
#   SECONDS_PER_RUN        length of each run (default 20)
#   ROUNDS                 pgbench/Go pairs (default 3)
#   SYNCHRONOUS_COMMIT     synchronous_commit for both, e.g. off: commits
#                          then do not wait for the disk, and the comparison
#                          is one of CPU alone, as on a server whose disk
#                          syncs faster than this one's (default: the
#                          server's setting)
set -euo pipefail

cd "$(dirname "$0")/.."

dsn="${MFA_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
pgbench_db="${PGBENCH_DB:-mfa_pgbench}"
clients="${CLIENTS:-8}"
seconds="${SECONDS_PER_RUN:-20}"
rounds="${ROUNDS:-3}"
export MFA_TEST_POSTGRES_DSN="$dsn"
if [ -n "${SYNCHRONOUS_COMMIT:-}" ]; then
	# libpq (pgbench) and pgx both read PGOPTIONS.
	export PGOPTIONS="-c synchronous_commit=$SYNCHRONOUS_COMMIT"
fi

for tool in psql pgbench go; do
	command -v "$tool" >/dev/null || { echo "bench-postgres: $tool not found" >&2; exit 1; }
done
if [ "$clients" != 8 ]; then
	echo "bench-postgres: the Go benchmark runs 8 clients (benchClients in sqlstore/internal/sqltest/bench_test.go); CLIENTS=$clients would compare unequal loads" >&2
	exit 1
fi

# The pgbench database lives next to the test database: same server, same
# user, another database name.
base="${dsn%%\?*}"
query=""
[ "$base" != "$dsn" ] && query="?${dsn#*\?}"
server="${base%/*}"
pgbench_dsn="$server/$pgbench_db$query"
admin_dsn="$server/postgres$query"

if [ "$(psql "$admin_dsn" -tAc "SELECT 1 FROM pg_database WHERE datname = '$pgbench_db'")" != 1 ]; then
	psql "$admin_dsn" -qc "CREATE DATABASE $pgbench_db"
fi
echo "== pgbench -i -s 10 on $pgbench_db"
pgbench -i -s 10 -q "$pgbench_dsn" 2>&1 | tail -n 1

bin="$(mktemp -d)/sqlstore.test"
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./sqlstore/internal/sqltest/

echo "== server: $(psql "$dsn" -tAc "SELECT version()")"
echo "== settings (this session's): $(psql "$dsn" -tAc "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections', 'wal_sync_method')")"
echo "== $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

pg_results=()
go_results=()
for round in $(seq 1 "$rounds"); do
	cmd=(pgbench -N -c "$clients" -j 2 -T "$seconds" -M prepared "$pgbench_dsn")
	echo "-- round $round: ${cmd[*]}"
	tps="$("${cmd[@]}" 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')"
	[ -n "$tps" ] || { echo "bench-postgres: no tps in pgbench's output" >&2; exit 1; }
	echo "   pgbench tps $tps"
	pg_results+=("$tps")

	gcmd=("$bin" -test.run '^$' -test.bench '^BenchmarkAuthenticateDevicePostgres$' -test.benchtime "${seconds}s")
	echo "-- round $round: go test -c ./sqlstore/internal/sqltest/ && sqlstore.test ${gcmd[*]:1}"
	out="$("${gcmd[@]}" 2>&1)" || { echo "$out" >&2; exit 1; }
	line="$(grep '^BenchmarkAuthenticateDevicePostgres' <<<"$out" | tail -n 1)"
	echo "   $line"
	auth="$(sed -n 's/.* \([0-9.]*\) auth\/s.*/\1/p' <<<"$line")"
	[ -n "$auth" ] || { echo "bench-postgres: no auth/s in the benchmark's output:" >&2; echo "$out" >&2; exit 1; }
	echo "   Go auth/s $auth (ratio to the pgbench run before: $(awk -v a="$auth" -v p="$tps" 'BEGIN { printf "%.2f", a / p }'))"
	go_results+=("$auth")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
pg_median="$(median "${pg_results[@]}")"
go_median="$(median "${go_results[@]}")"
echo "== pgbench -N tps:        ${pg_results[*]} (median $pg_median)"
echo "== AuthenticateDevice/s:  ${go_results[*]} (median $go_median)"
awk -v g="$go_median" -v p="$pg_median" 'BEGIN { printf "== ratio Go / pgbench (medians): %.2f (target >= 0.80)\n", g / p }'
