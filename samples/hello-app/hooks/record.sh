#!/bin/sh
# Every hook of the demo app: appends one line to $HOOK_LOG (a plain variable of the group
# document) saying which step ran, for which release, as whom. It never prints a secret.
set -eu
line="$BELAY_STEP app=$BELAY_APP version=$BELAY_VERSION previous=${BELAY_PREVIOUS_VERSION:-} target=${BELAY_TARGET_VERSION:-} group=$BELAY_GROUP user=$(id -un) dir=$BELAY_RELEASE_DIR"
echo "$line"
if [ -n "${HOOK_LOG:-}" ]; then
    echo "$line" >> "$HOOK_LOG"
fi
