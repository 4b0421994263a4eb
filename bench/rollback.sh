#!/usr/bin/env bash
# The shell-runbook baseline: the same rollback operations the rollback workflow performs, run directly.
# Usage: DATABASE_URL=... DOCKER_HOST=... bench/rollback.sh <compose-project> <crontab-user> <saved-crontab-file>
set -euo pipefail
project=$1 user=$2 saved=$3

# Legacy jobs back, unified line gone: reinstate the crontab saved before the cutover touched it.
crontab -u "$user" - < "$saved"  # from stdin: crontab truncates file names over 100 characters
# Traffic back on the legacy path.
psql "$DATABASE_URL" -qAt -c "update migration_routing set percent = 0, updated_by = 'rollback-script' where route = 'unified'"
# Unified containers stopped and removed (the same stop grace as the orchestrator: the plan's default, 10 s).
ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project")
if [ -n "$ids" ]; then
  docker stop -t 10 $ids >/dev/null
  docker rm $ids >/dev/null
fi
# Verification: legacy owns all traffic, legacy lines enabled, no unified container.
[ "$(psql "$DATABASE_URL" -qAt -c "select coalesce((select percent from migration_routing where route = 'unified'), 0)")" = 0 ]
[ "$(crontab -l -u "$user")" = "$(cat "$saved")" ]  # the crontab exactly as it was before the cutover
[ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ]
echo "rollback verified"
