# shellcheck shell=bash
# Helpers of bench/rss and bench/limits, which start throw-away nginx
# instances (one prefix dir each) on 127.0.0.1.  Sourced, not run: the
# caller defines die, NGINX, and the array STARTED, to which start_nginx
# adds every prefix it starts, for the caller's cleanup to stop.

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { kill -0 "$1" 2>/dev/null; }

master_of() { local f=$1/logs/nginx.pid; [[ -s $f ]] && cat "$f"; }

worker_of() { local m; m=$(master_of "$1") || return 0; pgrep -P "$m" | head -1; }

stop_nginx() {    # prefix: only an nginx started with that prefix
    local pid n
    pid=$(master_of "$1") || return 0
    [[ -n $pid ]] && alive "$pid" || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-p $1 " || return 0
    kill -QUIT "$pid" 2>/dev/null || true
    for ((n = 0; n < 50; n++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

start_nginx() {   # prefix cpu: conf/nginx.conf tested, started, worker up
    local n
    mkdir -p "$1/logs" "$1/tmp"
    "$NGINX" -p "$1" -c conf/nginx.conf -e logs/error.log -t -q \
        || die "bad nginx config: $1/conf/nginx.conf"
    STARTED+=("$1")
    taskset -c "$2" "$NGINX" -p "$1" -c conf/nginx.conf -e logs/error.log \
        || die "nginx failed to start: $1"
    for ((n = 0; n < 50; n++)); do
        [[ -n $(worker_of "$1") ]] && return 0
        sleep 0.1
    done
    die "nginx did not come up: $1"
}
