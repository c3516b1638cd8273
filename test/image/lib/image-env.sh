# shellcheck shell=bash
# Settings shared by test/image/setup and test/image/down. Sourced after
# test/env/lib/common.sh (REPO_ROOT, STATE_DIR, the versions, start_bg and stop_bg).

IMAGE_DIR="${REPO_ROOT}/test/image"
# Runtime state: registry data, buildah's storage, runc's state, env.json.
IMAGE_STATE_DIR="${STATE_DIR}/image"
IMAGE_ENV_JSON="${IMAGE_STATE_DIR}/env.json"
# The registry runs under start_bg, so test/env/down stops it too.
REGISTRY_NAME=image-registry
IMAGE_CACHE_ROOT="${XDG_CACHE_HOME:-${HOME}/.cache}/knative-lambda/image-env"
