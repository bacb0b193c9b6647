#!/bin/sh
# Entrypoint mounted into backend containers through `file_configmaps`.
#
# With a single argument, the argument is a shell command line (for example
# "uvicorn app.main:app --port 8001") and runs through `sh -c`. With several
# arguments they run as given. Without arguments the API server starts on
# JETSCALE_PORT (8000 when unset).
set -eu

cd /app 2>/dev/null || true

if [ "$#" -eq 0 ]; then
  exec uvicorn app.main:app --host 0.0.0.0 --port "${JETSCALE_PORT:-8000}" --proxy-headers
fi

if [ "$#" -eq 1 ]; then
  exec sh -c "$1"
fi

exec "$@"
