#!/bin/sh
# The minio-init one-shot (docker-compose.yml): the bucket, and one MinIO user per role with the
# policy in this folder, so nothing but this script ever uses the root credentials.
#   cjm-tasks        the Airflow tasks: read the inputs, read/write/delete the run workspaces,
#                    add to the version store (never delete), write the published site
#   cjm-reader       stakeholders: read the published site, nothing else
#   cjm-sample-data  the sample-data one-shot: write the sample inputs, nothing else
# Safe to run on every `docker compose up`: the bucket, policies and users are created or
# updated in place (a changed secret in .env takes effect here).
set -eu

policies=$(dirname "$0")

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing local/cjm

# grant <role> <access key id> <secret key>: the policy <role>.json, and the user holding it.
grant() {
    mc admin policy create local "$1" "$policies/$1.json"
    mc admin user add local "$2" "$3" >/dev/null
    # A second `up` finds the policy attached already: mc says so and exits non-zero.
    if ! out=$(mc admin policy attach local "$1" --user "$2" 2>&1); then
        case "$out" in
            *"already in effect"*) ;;
            *) echo "$out" >&2; exit 1 ;;
        esac
    fi
    echo "user $2 has policy $1"
}

grant cjm-tasks "$CJM_TASK_ACCESS_KEY_ID" "$CJM_TASK_SECRET_ACCESS_KEY"
grant cjm-reader "$CJM_READER_ACCESS_KEY_ID" "$CJM_READER_SECRET_ACCESS_KEY"
grant cjm-sample-data "$CJM_SAMPLE_DATA_ACCESS_KEY_ID" "$CJM_SAMPLE_DATA_SECRET_ACCESS_KEY"
