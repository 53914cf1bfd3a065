#!/bin/sh
# Every hook of the demo app: appends one line to $HOOK_LOG (a plain variable of the group
# document) saying which step ran, for which release, as whom. It never prints a secret.
# With $HOOK_HOLD set (the tests), a hook waits while $HOOK_HOLD/<step>.<version> exists,
# so that a test can catch a deploy in the middle of a step.
set -eu
line="$BELAY_STEP app=$BELAY_APP version=$BELAY_VERSION previous=${BELAY_PREVIOUS_VERSION:-} target=${BELAY_TARGET_VERSION:-} group=$BELAY_GROUP user=$(id -un) dir=$BELAY_RELEASE_DIR"
echo "$line"
if [ -n "${HOOK_LOG:-}" ]; then
    echo "$line" >> "$HOOK_LOG"
fi
if [ -n "${HOOK_HOLD:-}" ]; then
    i=0
    while [ -e "$HOOK_HOLD/$BELAY_STEP.$BELAY_VERSION" ] && [ "$i" -lt 1200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
fi
