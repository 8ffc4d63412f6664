#!/bin/sh
# uv-cache-prune git hook shim, installed as post-checkout and post-merge by
# `uv-cache-prune install-hooks` (or `cargo xtask install-hooks`). Reinstalling overwrites
# it; `install-hooks --uninstall` restores exactly the hook that was here before.
#
# After a branch checkout or a merge it registers this repository as a root of
# uv-cache-prune and, at most once per throttle period, starts a prune of uv's cache in the
# background (`uv-cache-prune --hook`: never waits for uv's lock, removes only archives
# dead and unused for a week). It never fails or slows git: the slow part runs detached
# with its output appended to a log, every error of ours is swallowed, and the exit status
# is that of the hook this one replaced, if any.
#
# Settings (environment, else git config):
#   UV_CACHE_PRUNE_BIN              the binary            [default: uv-cache-prune on PATH]
#   UV_CACHE_PRUNE_HOOK_THROTTLE    seconds between runs  [git config uv-cache-prune.throttle, default 86400]
#   UV_CACHE_PRUNE_STATE_DIR        stamp and log dir     [default: $XDG_STATE_HOME/uv-cache-prune]
#   UV_CACHE_PRUNE_HOOK_SYNC=1      run the prune in the foreground (tests)

status=0
# The hook that was here before still runs first, with the same arguments and stdin.
if [ -x "$0.uv-cache-prune-chained" ]; then
    "$0.uv-cache-prune-chained" "$@"
    status=$?
fi

uv_cache_prune_hook() {
    # post-checkout runs for file checkouts too; only a branch checkout (flag 1) counts.
    case $(basename "$0") in
        post-checkout) [ "${3:-0}" = 1 ] || return 0 ;;
    esac
    bin=${UV_CACHE_PRUNE_BIN:-$(command -v uv-cache-prune 2>/dev/null)}
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        echo "uv-cache-prune is not installed, so uv's cache is not pruned after checkouts (install: cargo install --path <uv-cache-prune checkout>)" >&2
        return 0
    fi
    top=$(git rev-parse --show-toplevel 2>/dev/null) || return 0
    "$bin" roots add "$top" >/dev/null 2>&1

    state=${UV_CACHE_PRUNE_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/uv-cache-prune}
    throttle=${UV_CACHE_PRUNE_HOOK_THROTTLE:-$(git config --get uv-cache-prune.throttle 2>/dev/null)}
    case $throttle in '' | *[!0-9]*) throttle=86400 ;; esac
    now=$(date +%s)
    last=$(cat "$state/hook.stamp" 2>/dev/null)
    case $last in '' | *[!0-9]*) last=0 ;; esac
    [ $((now - last)) -ge "$throttle" ] || return 0
    log=/dev/null
    if mkdir -p "$state" 2>/dev/null && echo "$now" >"$state/hook.stamp" 2>/dev/null; then
        log="$state/hook.log"
    fi
    if [ -n "$UV_CACHE_PRUNE_HOOK_SYNC" ]; then
        "$bin" --hook >>"$log" 2>&1 </dev/null
    else
        nohup "$bin" --hook >>"$log" 2>&1 </dev/null &
    fi
    return 0
}

uv_cache_prune_hook "$@" || true
exit $status
