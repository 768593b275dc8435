
/*
 * Preloaded into nginx by tools/asan-nginx, for make test-asan only.
 *
 * ngx_event_process_init() allocates a process's connections and their
 * read and write events with ngx_alloc() and nginx never frees them: at
 * exit, once the cycle's pool is gone, nothing points to them and
 * LeakSanitizer would report them (and, through them, whatever an open
 * connection still holds) at every exit of every nginx process.  Their
 * allocation stack runs through static functions of the stripped
 * /usr/sbin/nginx only, which no suppression can name.
 *
 * So this library keeps the three arrays reachable: each time nginx waits
 * for events, it copies the cycle's three pointers into its own globals,
 * which LeakSanitizer scans as roots.
 *
 * It also keeps the last PCRE2 compile context that nginx created: nginx
 * 1.22's ngx_regex_module_init() forgets the one ngx_regex_compile() made
 * while the configuration was parsed (t/lib/lsan.supp suppresses that leak
 * too, but only after symbolizing it, which costs every process with a
 * regex in its configuration some tenths of a second).
 *
 * And it keeps the pool of main()'s init cycle, which main() leaves behind
 * when the configuration fails to load (nginx -t, every must_die test):
 * ngx_cycle points to that cycle while the configuration is parsed, when
 * nginx loads its modules.
 *
 * Nothing else is kept: a leak of the module's is reported as before.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <dlfcn.h>
#include <poll.h>
#include <sys/epoll.h>


/* only nginx has ngx_cycle: anywhere else this library does nothing */
#pragma weak ngx_cycle

void  *ngx_lsan_roots[5];    /* not static: the stores must stay */


static void
ngx_lsan_keep_roots(void)
{
    ngx_cycle_t  *cycle;

    if (&ngx_cycle == NULL) {
        return;
    }

    cycle = (ngx_cycle_t *) ngx_cycle;

    if (cycle != NULL && cycle->connections != NULL) {
        ngx_lsan_roots[0] = cycle->connections;
        ngx_lsan_roots[1] = cycle->read_events;
        ngx_lsan_roots[2] = cycle->write_events;
    }
}


void *
dlopen(const char *filename, int flags)
{
    static void  *(*next)(const char *, int);

    if (next == NULL) {
        next = (void *(*)(const char *, int)) dlsym(RTLD_NEXT, "dlopen");
    }

    if (&ngx_cycle != NULL && ngx_cycle != NULL
        && ngx_is_init_cycle(ngx_cycle))
    {
        ngx_lsan_roots[4] = ngx_cycle->pool;
    }

    return next(filename, flags);
}


int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    static int  (*next)(int, struct epoll_event *, int, int);

    if (next == NULL) {
        next = (int (*)(int, struct epoll_event *, int, int))
                   dlsym(RTLD_NEXT, "epoll_wait");
    }

    ngx_lsan_keep_roots();

    return next(epfd, events, maxevents, timeout);
}


int
poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    static int  (*next)(struct pollfd *, nfds_t, int);

    if (next == NULL) {
        next = (int (*)(struct pollfd *, nfds_t, int)) dlsym(RTLD_NEXT, "poll");
    }

    ngx_lsan_keep_roots();

    return next(fds, nfds, timeout);
}


#if (NGX_PCRE2)

pcre2_compile_context *
pcre2_compile_context_create(pcre2_general_context *gcontext)
{
    static pcre2_compile_context  *(*next)(pcre2_general_context *);

    if (next == NULL) {
        next = (pcre2_compile_context *(*)(pcre2_general_context *))
                   dlsym(RTLD_NEXT, "pcre2_compile_context_create_8");
    }

    ngx_lsan_roots[3] = next(gcontext);

    return ngx_lsan_roots[3];
}

#endif
