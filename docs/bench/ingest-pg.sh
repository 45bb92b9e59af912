#!/usr/bin/env bash
# Durable webhook ingest, SQLite against PostgreSQL, one instance against
# two (docs/PERFORMANCE.md, "PostgreSQL (issue 18)"). Run from the
# repository's root as root on a Debian machine with postgresql installed
# (the cluster runs as the postgres user), on an otherwise idle machine:
#
#   bash docs/bench/ingest-pg.sh            # 3 SQLite/PostgreSQL pairs, 3 two-instance runs
#   PAIRS="1 2 3 4 5" TWOS="1 2" bash docs/bench/ingest-pg.sh
#
# Every run is 20 s of loadgen at c64 (two instances: c32 each) on a fresh
# database; the PostgreSQL cluster is durable (fsync, synchronous_commit
# on) and warmed first, as a running cluster is. It prints each run's
# loadgen lines and the load average before it.
set -u
PAIRS=${PAIRS-1 2 3}
TWOS=${TWOS-1 2 3}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
B=$(mktemp -d /tmp/ingest-bench.XXXX)
go build -o "$B/linkdesk" . || exit 1
pgdir=$(mktemp -d /tmp/ingest-pg.XXXX); chown postgres "$pgdir"
su postgres -s /bin/sh -c "$pgbin/initdb -D $pgdir/data -A trust -U postgres --no-locale -E UTF8 >/dev/null"
su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $pgdir/data -l $pgdir/server.log -w -o \"-k $pgdir -p 25433 -c listen_addresses='' -c max_connections=300\" start >/dev/null"
trap 'su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $pgdir/data -m fast stop >/dev/null"; rm -rf "$pgdir" "$B"' EXIT
pg="postgres:///postgres?host=$pgdir&port=25433&user=postgres&sslmode=disable"
# A new cluster creates its WAL segments as it goes; a running one recycles them.
psql "$pg" -qc "create table warm as select g, repeat('x', 500) t from generate_series(1, 400000) g; drop table warm; checkpoint"
export LINKDESK_DEMO=off LINKDESK_PINWHEEL_SECRET=benchsecret \
  LINKDESK_SESSION_KEYS=$(printf '%0128d' 1):$(printf '%064d' 2) \
  LINKDESK_ENCRYPTION_KEY=$(printf '%064d' 3) LINKDESK_AUDIT_KEY=$(printf '%064d' 4)
n=0
waitup() { for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.5; done; echo "not ready $1"; return 1; }
lg() { "$B/linkdesk" loadgen webhooks --target "http://127.0.0.1:$1/webhooks/pinwheel" --secret benchsecret --concurrency "$2" --duration "${DUR:-20s}" --accounts 5000 2>&1; }
serve() { # port, then the database's environment
  local port=$1; shift
  env "$@" LINKDESK_SANDBOX_STATE="$B/sb$n-$port.db" LINKDESK_ADDR=127.0.0.1:$port "$B/linkdesk" serve >"$B/serve$n-$port.log" 2>&1 &
}
newdb() { psql "$pg" -qc "create database ld$n"; echo "postgres:///ld$n?host=$pgdir&port=25433&user=postgres&sslmode=disable"; }
sqlite_run() {
  n=$((n+1)); echo "### sqlite run $n load $(cut -d' ' -f1 /proc/loadavg)"
  serve 8181 LINKDESK_DB="$B/ld$n.db"; p=$!; waitup 8181; lg 8181 64
  kill $p; wait $p 2>/dev/null
}
pg_run() {
  n=$((n+1)); url=$(newdb); echo "### pg one-instance run $n load $(cut -d' ' -f1 /proc/loadavg)"
  serve 8181 LINKDESK_DATABASE_URL="$url"; p=$!; waitup 8181; lg 8181 64
  kill $p; wait $p 2>/dev/null
}
pg2_run() {
  n=$((n+1)); url=$(newdb)
  serve 8181 LINKDESK_DATABASE_URL="$url"; p1=$!; waitup 8181
  serve 8182 LINKDESK_DATABASE_URL="$url"; p2=$!; waitup 8182
  echo "### pg two-instance run $n load $(cut -d' ' -f1 /proc/loadavg)"
  lg 8181 32 >"$B/lga$n.txt" & l1=$!; lg 8182 32 >"$B/lgb$n.txt"; wait $l1
  cat "$B/lga$n.txt" "$B/lgb$n.txt"
  kill $p1 $p2; wait $p1 $p2 2>/dev/null
}
for _ in $PAIRS; do sqlite_run; pg_run; done
for _ in $TWOS; do pg2_run; pg_run; done
echo "deadlocks in the server log: $(grep -c 'deadlock detected' "$pgdir/server.log")"
