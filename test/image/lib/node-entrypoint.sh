#!/bin/sh
# Entrypoint of the local Node.js base image, as the upstream image behaves: a first
# argument that is an option or not a command is handed to node; otherwise the
# command runs as given (exec: it becomes the container's first process).
set -e
if [ "${1#-}" != "$1" ] || ! command -v -- "$1" >/dev/null 2>&1; then
  set -- node "$@"
fi
exec "$@"
