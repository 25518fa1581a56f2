#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: a cluster in a temporary directory, run by an
# unprivileged user (the `postgres` user of Debian's package when run as root), listening on
# 127.0.0.1 on a free port. Prints the server's URL.
#
#   scripts/test-postgres.sh [start] [DIR]  start the server in DIR (default: one per user in
#                                           $TMPDIR) unless it runs; print its URL
#   scripts/test-postgres.sh stop DIR       stop it (fast shutdown)
#   scripts/test-postgres.sh kill DIR       stop it the hard way (immediate shutdown)
#
# Local TCP connections are trusted, except for the role `strongroom_pw` (password
# `strongroom-test-password`), which must give its password (tests of password files).
# With STRONGROOM_TEST_PG_TLS=1 at creation, the server also speaks TLS with a certificate for
# localhost and 127.0.0.1 signed by DIR/ca.pem, and the role `strongroom_tls` may only connect
# over TLS.
set -euo pipefail

cmd=start
case "${1:-}" in start|stop|kill) cmd=$1; shift ;; esac
dir=${1:-${TMPDIR:-/tmp}/strongroom-test-pg-$(id -u)}

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ]; then bindir=$d; break; fi
done
if [ -z "$bindir" ]; then
  echo "test-postgres: no PostgreSQL server installed (apt-get install postgresql)" >&2
  exit 1
fi

# As root the server runs as `postgres`; otherwise as whoever runs this.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_ctl_in() { as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" "$@"; }

case $cmd in
  stop) pg_ctl_in stop -m fast -w >/dev/null; exit 0 ;;
  kill) pg_ctl_in stop -m immediate -w >/dev/null; exit 0 ;;
esac

mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
exec 9>"$dir/.lock"
flock 9

if [ ! -f "$dir/data/PG_VERSION" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 64MB
CONF
  tls_hba=""
  if [ "${STRONGROOM_TEST_PG_TLS:-}" = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=strongroom-test-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
      -keyout "$dir/data/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/data/server.crt" 2>/dev/null
    chmod 600 "$dir/data/server.key"
    chmod 644 "$dir/ca.pem"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/data/server.key" "$dir/data/server.crt"; fi
    echo "ssl = on" >>"$dir/data/postgresql.conf"
    tls_hba="hostssl all strongroom_tls 127.0.0.1/32 trust
hostnossl all strongroom_tls 127.0.0.1/32 reject"
  fi
  cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
$tls_hba
host all strongroom_pw 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
  echo "$port" >"$dir/port"
fi
port=$(cat "$dir/port")
if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  pg_ctl_in start -w -t 60 >/dev/null 9>&- || { tail -20 "$dir/server.log" >&2; exit 1; }
  as_owner "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'strongroom_pw') THEN
    CREATE ROLE strongroom_pw LOGIN SUPERUSER PASSWORD 'strongroom-test-password';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'strongroom_tls') THEN
    CREATE ROLE strongroom_tls LOGIN SUPERUSER;
  END IF;
END $$;
SQL
fi
echo "postgresql://postgres@127.0.0.1:$port/postgres"
