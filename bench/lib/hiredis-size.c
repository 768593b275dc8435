/*
 * For bench/rss: the sizes of hiredis's per-connection structures, as the
 * installed headers (libhiredis-dev) define them.  A redisAsyncContext
 * embeds its redisContext; the reader is allocated beside it.
 */

#include <stdio.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


int
main(void)
{
    printf("%zu %zu %zu %d\n", sizeof(redisAsyncContext),
           sizeof(redisContext), sizeof(redisReader), REDIS_READER_MAX_BUF);
    return 0;
}
