#!/bin/sh
# Entry point of the YoloFleet images: turns Docker/compose secrets (files under /run/secrets) into the settings
# the .NET processes read, in their environment only, never on a command line.
#
#   NAME_FILE=/run/secrets/x          exports NAME with the file's content (the convention of the postgres image),
#                                     for .NET settings (NAME contains "__": Cloud__Mqtt__Password_FILE,
#                                     Agent__Broker__Password_FILE) and YOLOFLEET_* names; other *_FILE variables are
#                                     left alone
#   YOLOFLEET_DB_PASSWORD_FILE        appends ;Password=... to Cloud__Database and YOLOFLEET_DATABASE (those that are set)
#   YOLOFLEET_REDIS_PASSWORD_FILE     appends ,password=... to Cloud__Silo__Redis
#
# Then it runs its arguments (exec: the process gets the signals and is the one Docker watches).
set -eu

for name in $(env | sed -n -e 's/^\([A-Za-z0-9_]*__[A-Za-z0-9_]*\)_FILE=.*/\1/p' -e 's/^\(YOLOFLEET_[A-Za-z0-9_]*\)_FILE=.*/\1/p' | sort -u); do
    eval "file=\${${name}_FILE}"
    # shellcheck disable=SC2154 # set by the eval above
    [ -r "$file" ] || { echo "secrets-entrypoint: ${name}_FILE names '$file', which is not a readable file" >&2; exit 64; }
    value=$(cat "$file")
    export "$name=$value"
    unset "${name}_FILE"
done

if [ -n "${YOLOFLEET_DB_PASSWORD:-}" ]; then
    [ -z "${Cloud__Database:-}" ] || export Cloud__Database="${Cloud__Database};Password=${YOLOFLEET_DB_PASSWORD}"
    [ -z "${YOLOFLEET_DATABASE:-}" ] || export YOLOFLEET_DATABASE="${YOLOFLEET_DATABASE};Password=${YOLOFLEET_DB_PASSWORD}"
    unset YOLOFLEET_DB_PASSWORD
fi
if [ -n "${YOLOFLEET_REDIS_PASSWORD:-}" ]; then
    [ -z "${Cloud__Silo__Redis:-}" ] || export Cloud__Silo__Redis="${Cloud__Silo__Redis},password=${YOLOFLEET_REDIS_PASSWORD}"
    unset YOLOFLEET_REDIS_PASSWORD
fi

exec "$@"
