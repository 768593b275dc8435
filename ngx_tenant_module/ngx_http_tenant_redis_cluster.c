
/*
 * Copyright (C) ngx_tenant_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tenant_redis_cluster.h"
#include "ngx_http_tenant_redis_node.h"
#include "ngx_http_tenant_metrics.h"


/* a failover is also followed through MOVED and lost links, sooner */
#define NGX_HTTP_TENANT_CLUSTER_REFRESH        30000
/* at most five reads of the map a second, however many MOVED come */
#define NGX_HTTP_TENANT_CLUSTER_REFRESH_MIN    200
/* no node answered: asked again in a second */
#define NGX_HTTP_TENANT_CLUSTER_RETRY          1000
/* slot map entries are 16 bits; far more than any cluster has */
#define NGX_HTTP_TENANT_CLUSTER_MAX_NODES      1024

#define NGX_HTTP_TENANT_CLUSTER_NAME_LEN       (NGX_MAXHOSTNAMELEN + 8)


struct ngx_http_tenant_redis_cluster_s {
    ngx_http_tenant_redis_conf_t     *conf;
    ngx_str_t                        *script;
    u_char                           *sha1;
    ngx_log_t                         log;

    ngx_http_tenant_redis_node_t    **nodes;
    ngx_uint_t                        nnodes;

    /* the index of the slot's master + 1; 0: no master known */
    uint16_t                         *slots;
    uint16_t                         *next_slots;

    /* CLUSTER SLOTS: the seeds, then the nodes, until one answers */
    ngx_http_tenant_redis_conn_t     *probe;
    ngx_uint_t                        probe_next;
    ngx_uint_t                        probe_tries;
    ngx_event_t                       probe_again; /* posted */
    ngx_event_t                       timer;       /* the next refresh */
    ngx_msec_t                        last;        /* the last started */

    unsigned                          mapped:1;
    unsigned                          probing:1;
    unsigned                          again:1;     /* asked meanwhile */
    unsigned                          exiting:1;
};


static ngx_int_t ngx_http_tenant_redis_cluster_walk(
    ngx_http_tenant_redis_cluster_t *cl, ngx_uint_t i, ngx_uint_t *n);
static void ngx_http_tenant_redis_cluster_timer_handler(ngx_event_t *ev);
static void ngx_http_tenant_redis_cluster_probe(
    ngx_http_tenant_redis_cluster_t *cl);
static void ngx_http_tenant_redis_cluster_ask(
    ngx_http_tenant_redis_cluster_t *cl);
static ngx_http_tenant_redis_peer_t *ngx_http_tenant_redis_cluster_candidate(
    ngx_http_tenant_redis_cluster_t *cl);
static ngx_int_t ngx_http_tenant_redis_cluster_next(
    ngx_http_tenant_redis_cluster_t *cl);
static void ngx_http_tenant_redis_cluster_again_handler(ngx_event_t *ev);
static void ngx_http_tenant_redis_cluster_slots(void *data,
    ngx_http_tenant_redis_reply_t *reply);
static ngx_int_t ngx_http_tenant_redis_cluster_apply(
    ngx_http_tenant_redis_cluster_t *cl, ngx_http_tenant_redis_reply_t *reply);
static ngx_http_tenant_redis_node_t *ngx_http_tenant_redis_cluster_range(
    ngx_http_tenant_redis_cluster_t *cl, ngx_http_tenant_redis_reply_t *range);
static void ngx_http_tenant_redis_cluster_probed(
    ngx_http_tenant_redis_cluster_t *cl, ngx_uint_t ok);
static ngx_http_tenant_redis_node_t *ngx_http_tenant_redis_cluster_seed(
    ngx_http_tenant_redis_cluster_t *cl);
static ngx_http_tenant_redis_node_t *ngx_http_tenant_redis_cluster_node(
    ngx_http_tenant_redis_cluster_t *cl, ngx_str_t *host, in_port_t port,
    ngx_http_tenant_redis_peer_t *seed);
static void ngx_http_tenant_redis_cluster_lost(void *data);
static void ngx_http_tenant_redis_cluster_ready(void *data,
    ngx_uint_t reconnected);
static void ngx_http_tenant_redis_cluster_health(
    ngx_http_tenant_redis_cluster_t *cl);
static u_char *ngx_http_tenant_redis_cluster_bulk(u_char *p, u_char *last,
    ngx_str_t *s);
static ngx_uint_t ngx_http_tenant_redis_cluster_tag(u_char *key, size_t len,
    ngx_str_t *tag);
static ngx_uint_t ngx_http_tenant_redis_cluster_crc16(ngx_str_t *tag);
static u_char *ngx_http_tenant_redis_cluster_log_handler(ngx_log_t *log,
    u_char *buf, size_t len);


/* CRC16-CCITT (XMODEM), as the Redis Cluster specification has it */

static const uint16_t  ngx_http_tenant_crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};


ngx_http_tenant_redis_cluster_t *
ngx_http_tenant_redis_cluster_create(ngx_log_t *log,
    ngx_http_tenant_redis_conf_t *rcf, ngx_str_t *script, u_char *sha1)
{
    ngx_http_tenant_redis_cluster_t  *cl;

    cl = ngx_calloc(sizeof(ngx_http_tenant_redis_cluster_t), log);
    if (cl == NULL) {
        return NULL;
    }

    cl->conf = rcf;
    cl->script = script;
    cl->sha1 = sha1;

    cl->log = *log;
    cl->log.handler = ngx_http_tenant_redis_cluster_log_handler;
    cl->log.data = cl;
    cl->log.action = NULL;
    cl->log.connection = 0;

    cl->nodes = ngx_calloc(NGX_HTTP_TENANT_CLUSTER_MAX_NODES
                           * sizeof(ngx_http_tenant_redis_node_t *), log);
    cl->slots = ngx_calloc(NGX_HTTP_TENANT_REDIS_SLOTS * sizeof(uint16_t),
                           log);
    cl->next_slots = ngx_calloc(NGX_HTTP_TENANT_REDIS_SLOTS
                                * sizeof(uint16_t), log);

    /* the probe's down handler: its waiting CLUSTER SLOTS says it all */
    cl->probe = ngx_http_tenant_redis_conn_create(&cl->log, NULL, NULL);

    if (cl->nodes == NULL || cl->slots == NULL || cl->next_slots == NULL
        || cl->probe == NULL)
    {
        ngx_http_tenant_redis_cluster_destroy(cl);
        return NULL;
    }

    cl->timer.handler = ngx_http_tenant_redis_cluster_timer_handler;
    cl->timer.data = cl;
    cl->timer.log = &cl->log;
    cl->timer.cancelable = 1;

    cl->probe_again.handler = ngx_http_tenant_redis_cluster_again_handler;
    cl->probe_again.data = cl;
    cl->probe_again.log = &cl->log;

    ngx_http_tenant_redis_cluster_probe(cl);

    return cl;
}


void
ngx_http_tenant_redis_cluster_destroy(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_uint_t  i;

    /* commands still waiting fail, quietly: the requests are going too */
    cl->exiting = 1;

    if (cl->probe) {
        ngx_http_tenant_redis_conn_destroy(cl->probe);
    }

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    if (cl->probe_again.posted) {
        ngx_delete_posted_event(&cl->probe_again);
    }

    for (i = 0; i < cl->nnodes; i++) {
        ngx_http_tenant_redis_node_destroy(cl->nodes[i]);
    }

    ngx_free(cl->nodes);
    ngx_free(cl->slots);
    ngx_free(cl->next_slots);
    ngx_free(cl);
}


ngx_uint_t
ngx_http_tenant_redis_cluster_key_slot(u_char *key, size_t len)
{
    ngx_str_t  tag;

    (void) ngx_http_tenant_redis_cluster_tag(key, len, &tag);

    return ngx_http_tenant_redis_cluster_crc16(&tag);
}


/*
 * "{tag}": only the tag counts; "{}" or no "}" leaves the whole key.
 * Returns how many of the key's first bytes decide its slot: through
 * the tag's "}", or the whole key (0) when it has no tag.
 */

static ngx_uint_t
ngx_http_tenant_redis_cluster_tag(u_char *key, size_t len, ngx_str_t *tag)
{
    size_t  i, end;

    tag->data = key;
    tag->len = len;

    for (i = 0; i < len; i++) {
        if (key[i] == '{') {
            break;
        }
    }

    if (i == len) {
        return 0;
    }

    for (end = i + 1; end < len; end++) {
        if (key[end] == '}') {
            break;
        }
    }

    if (end == len || end == i + 1) {
        return 0;
    }

    tag->data = key + i + 1;
    tag->len = end - i - 1;

    return end + 1;
}


static ngx_uint_t
ngx_http_tenant_redis_cluster_crc16(ngx_str_t *tag)
{
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < tag->len; i++) {
        crc = (uint16_t) (crc << 8)
              ^ ngx_http_tenant_crc16_table[((crc >> 8) ^ tag->data[i])
                                            & 0xff];
    }

    return crc & (NGX_HTTP_TENANT_REDIS_SLOTS - 1);
}


/*
 * The module's keys of one call start alike, "PREFIX{ID}": a key whose
 * first bytes through its tag are those of the one before is in its
 * slot, without looking for the tag or hashing it again (bench/callgrind
 * cluster: the six keys' CRC16 was most of what routing cost).
 */

ngx_int_t
ngx_http_tenant_redis_cluster_slot(u_char *args, size_t len)
{
    u_char      *p, *last;
    ngx_int_t    numkeys, slot, s;
    ngx_str_t    arg, prev, tag;
    ngx_uint_t   decisive;

    last = args + len;

    p = ngx_http_tenant_redis_cluster_bulk(args, last, &arg);
    if (p == NULL) {
        return NGX_ERROR;
    }

    numkeys = ngx_atoi(arg.data, arg.len);
    if (numkeys <= 0) {
        return NGX_ERROR;
    }

    slot = NGX_ERROR;
    decisive = 0;
    ngx_str_null(&prev);

    while (numkeys--) {
        p = ngx_http_tenant_redis_cluster_bulk(p, last, &arg);
        if (p == NULL) {
            return NGX_ERROR;
        }

        /* without a tag the whole key decides, so only the same key */

        if (slot != NGX_ERROR
            && (decisive ? arg.len >= decisive : arg.len == prev.len)
            && ngx_memcmp(arg.data, prev.data,
                          decisive ? decisive : prev.len)
               == 0)
        {
            continue;
        }

        decisive = ngx_http_tenant_redis_cluster_tag(arg.data, arg.len, &tag);
        s = ngx_http_tenant_redis_cluster_crc16(&tag);
        prev = arg;

        if (slot != NGX_ERROR && s != slot) {
            return NGX_ERROR;
        }

        slot = s;
    }

    return slot;
}


/* "$LEN\r\nDATA\r\n" at p: DATA, and where the next one starts */

static u_char *
ngx_http_tenant_redis_cluster_bulk(u_char *p, u_char *last, ngx_str_t *s)
{
    size_t  len;

    if (p == last || *p++ != '$') {
        return NULL;
    }

    for (len = 0; p < last && *p >= '0' && *p <= '9'; p++) {
        len = len * 10 + (*p - '0');
    }

    if (last - p < 2 || (size_t) (last - p - 2) < len + 2) {
        return NULL;
    }

    s->data = p + 2;
    s->len = len;

    return p + 2 + len + 2;
}


ngx_http_tenant_redis_conn_t *
ngx_http_tenant_redis_cluster_link(ngx_http_tenant_redis_cluster_t *cl,
    ngx_uint_t slot)
{
    ngx_uint_t                     n;
    ngx_http_tenant_redis_node_t  *node;

    n = cl->slots[slot];

    if (n) {
        return ngx_http_tenant_redis_node_link(cl->nodes[n - 1]);
    }

    if (cl->mapped) {
        ngx_http_tenant_redis_log_link(&cl->log,
                                       "redis cluster: no master serves "
                                       "slot %ui", slot);
        ngx_http_tenant_redis_cluster_refresh(cl);
        return NULL;
    }

    /* no map yet: the seed being asked serves it, or redirects */

    node = ngx_http_tenant_redis_cluster_seed(cl);

    return node ? ngx_http_tenant_redis_node_link(node) : NULL;
}


ngx_http_tenant_redis_conn_t *
ngx_http_tenant_redis_cluster_redirect(ngx_http_tenant_redis_cluster_t *cl,
    ngx_uint_t slot, ngx_str_t *name, ngx_uint_t moved)
{
    u_char                        *colon;
    ngx_int_t                      port;
    ngx_str_t                      host;
    ngx_http_tenant_redis_node_t  *node;

    /* "host:port", the host itself an IPv6 address at times */

    for (colon = name->data + name->len; colon > name->data; colon--) {
        if (colon[-1] == ':') {
            break;
        }
    }

    port = ngx_atoi(colon, name->data + name->len - colon);

    if (colon == name->data || port <= 0 || port > 65535
        || slot >= NGX_HTTP_TENANT_REDIS_SLOTS)
    {
        return NULL;
    }

    host.data = name->data;
    host.len = colon - 1 - name->data;

    node = ngx_http_tenant_redis_cluster_node(cl, &host, (in_port_t) port,
                                              NULL);
    if (node == NULL) {
        return NULL;
    }

    if (moved) {
        cl->slots[slot] = (uint16_t) (node->index + 1);
        node->master = 1;

        ngx_http_tenant_redis_cluster_refresh(cl);
    }

    return ngx_http_tenant_redis_node_link(node);
}


ngx_uint_t
ngx_http_tenant_redis_cluster_masters(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_uint_t  n;

    if (!cl->mapped) {
        return 0;
    }

    (void) ngx_http_tenant_redis_cluster_walk(cl,
                                              NGX_HTTP_TENANT_CLUSTER_MAX_NODES,
                                              &n);
    return n;
}


ngx_int_t
ngx_http_tenant_redis_cluster_master_slot(ngx_http_tenant_redis_cluster_t *cl,
    ngx_uint_t i)
{
    ngx_uint_t  n;

    if (!cl->mapped) {
        return NGX_ERROR;
    }

    return ngx_http_tenant_redis_cluster_walk(cl, i, &n);
}


/*
 * The slots in order, each master counted where it first appears: the
 * lowest slot of the i-th (NGX_ERROR: there are fewer), and in *n how
 * many were met.  The map can change with each MOVED: it is walked
 * whenever asked, which costs a pass over 16384 entries, for listings
 * only.
 */

static ngx_int_t
ngx_http_tenant_redis_cluster_walk(ngx_http_tenant_redis_cluster_t *cl,
    ngx_uint_t i, ngx_uint_t *n)
{
    uint8_t     seen[NGX_HTTP_TENANT_CLUSTER_MAX_NODES / 8];
    ngx_uint_t  s, node;

    ngx_memzero(seen, sizeof(seen));

    *n = 0;

    for (s = 0; s < NGX_HTTP_TENANT_REDIS_SLOTS; s++) {
        if (cl->slots[s] == 0) {
            continue;
        }

        node = cl->slots[s] - 1;

        if (seen[node / 8] & (1 << (node % 8))) {
            continue;
        }

        seen[node / 8] |= (uint8_t) (1 << (node % 8));

        if ((*n)++ == i) {
            return s;
        }
    }

    return NGX_ERROR;
}


void
ngx_http_tenant_redis_cluster_refresh(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_msec_t  elapsed, delay;

    if (cl->exiting) {
        return;
    }

    if (cl->probing) {
        cl->again = 1;
        return;
    }

    elapsed = ngx_current_msec - cl->last;

    delay = (elapsed < NGX_HTTP_TENANT_CLUSTER_REFRESH_MIN)
            ? NGX_HTTP_TENANT_CLUSTER_REFRESH_MIN - elapsed : 0;

    /* a refresh already due sooner stays */
    if (cl->timer.timer_set
        && (ngx_msec_int_t) (cl->timer.timer.key - ngx_current_msec)
           <= (ngx_msec_int_t) delay)
    {
        return;
    }

    ngx_add_timer(&cl->timer, delay);
}


static void
ngx_http_tenant_redis_cluster_timer_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_cluster_probe(ev->data);
}


/* reading the map starts with the node that answered last time */

static void
ngx_http_tenant_redis_cluster_probe(ngx_http_tenant_redis_cluster_t *cl)
{
    if (cl->exiting || cl->probing) {
        return;
    }

    cl->probing = 1;
    cl->again = 0;
    cl->probe_tries = 0;
    cl->last = ngx_current_msec;

    ngx_http_tenant_redis_cluster_ask(cl);
}


static void
ngx_http_tenant_redis_cluster_ask(ngx_http_tenant_redis_cluster_t *cl)
{
    static u_char  slots[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";

    ngx_http_tenant_redis_peer_t  *peer;

    for ( ;; ) {

        if (!ngx_http_tenant_redis_conn_is_open(cl->probe)) {
            peer = ngx_http_tenant_redis_cluster_candidate(cl);

            if (peer
                && ngx_http_tenant_redis_conn_open(cl->probe, peer) != NGX_OK)
            {
                ngx_http_tenant_redis_log_link(&cl->log,
                                  "redis cluster node %V:%d: %s", &peer->host,
                                  (int) peer->port,
                                  ngx_http_tenant_redis_conn_error(cl->probe));
                peer = NULL;
            }

            if (peer == NULL) {
                if (ngx_http_tenant_redis_cluster_next(cl) != NGX_OK) {
                    ngx_http_tenant_redis_cluster_probed(cl, 0);
                    return;
                }

                continue;
            }
        }

        if (ngx_http_tenant_redis_conn_send(cl->probe, slots,
                                            sizeof(slots) - 1,
                                            ngx_http_tenant_redis_cluster_slots,
                                            cl)
            == NGX_OK)
        {
            return;
        }

        ngx_http_tenant_redis_conn_close(cl->probe, 1);

        if (ngx_http_tenant_redis_cluster_next(cl) != NGX_OK) {
            ngx_http_tenant_redis_cluster_probed(cl, 0);
            return;
        }
    }
}


/* the seeds, then every node seen; NULL: this one cannot be reached */

static ngx_http_tenant_redis_peer_t *
ngx_http_tenant_redis_cluster_candidate(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_uint_t                     n;
    ngx_http_tenant_redis_node_t  *node;

    n = cl->conf->cluster_seeds->nelts;

    if (cl->probe_next < n) {
        return (ngx_http_tenant_redis_peer_t *) cl->conf->cluster_seeds->elts
               + cl->probe_next;
    }

    if (cl->probe_next - n >= cl->nnodes) {
        return NULL;
    }

    node = cl->nodes[cl->probe_next - n];

    if (node->peer.sockaddr == NULL && node->peer.resolver == NULL) {
        return NULL;
    }

    return &node->peer;
}


/* NGX_DECLINED: every one has been tried this time */

static ngx_int_t
ngx_http_tenant_redis_cluster_next(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_uint_t  n;

    n = cl->conf->cluster_seeds->nelts + cl->nnodes;

    cl->probe_next = (cl->probe_next + 1) % n;

    if (++cl->probe_tries >= n) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* posted: the link that failed is not opened again under its own close */

static void
ngx_http_tenant_redis_cluster_again_handler(ngx_event_t *ev)
{
    ngx_http_tenant_redis_cluster_t *cl = ev->data;

    if (ngx_http_tenant_redis_cluster_next(cl) != NGX_OK) {
        ngx_http_tenant_redis_cluster_probed(cl, 0);
        return;
    }

    ngx_http_tenant_redis_cluster_ask(cl);
}


static void
ngx_http_tenant_redis_cluster_slots(void *data,
    ngx_http_tenant_redis_reply_t *reply)
{
    ngx_http_tenant_redis_cluster_t *cl = data;

    u_char  *reason;

    if (cl->exiting) {
        return;
    }

    if (reply == NULL) {
        reason = ngx_http_tenant_redis_conn_error(cl->probe);

        ngx_http_tenant_redis_log_link(&cl->log,
                                "redis cluster node %V: %s",
                                ngx_http_tenant_redis_conn_address(cl->probe),
                                reason[0] ? (char *) reason
                                          : "connection lost");

        ngx_post_event(&cl->probe_again, &ngx_posted_events);
        return;
    }

    if (reply->type == NGX_HTTP_TENANT_REDIS_ERROR) {
        ngx_http_tenant_redis_log_link(&cl->log,
                                "redis cluster node %V refused CLUSTER SLOTS: "
                                "\"%*s\"",
                                ngx_http_tenant_redis_conn_address(cl->probe),
                                (size_t) reply->len, reply->str);

    } else if (ngx_http_tenant_redis_cluster_apply(cl, reply) != NGX_OK) {
        ngx_http_tenant_redis_log_link(&cl->log,
                                "redis cluster node %V: unexpected CLUSTER "
                                "SLOTS reply",
                                ngx_http_tenant_redis_conn_address(cl->probe));

    } else {
        ngx_http_tenant_redis_cluster_probed(cl, 1);
        return;
    }

    ngx_http_tenant_redis_conn_close(cl->probe, 1);
    ngx_post_event(&cl->probe_again, &ngx_posted_events);
}


/*
 * [[start, end, [host, port, id, ...], replicas...], ...]: the masters
 * by slot.  The map is replaced only once the whole reply has been read.
 */

static ngx_int_t
ngx_http_tenant_redis_cluster_apply(ngx_http_tenant_redis_cluster_t *cl,
    ngx_http_tenant_redis_reply_t *reply)
{
    uint16_t                      *slots;
    ngx_uint_t                     i, s, start, end;
    ngx_http_tenant_redis_node_t  *node;

    if (reply->type != NGX_HTTP_TENANT_REDIS_ARRAY || reply->elements == 0) {
        return NGX_ERROR;
    }

    ngx_memzero(cl->next_slots, NGX_HTTP_TENANT_REDIS_SLOTS * sizeof(uint16_t));

    for (i = 0; i < reply->elements; i++) {
        node = ngx_http_tenant_redis_cluster_range(cl, reply->element[i]);
        if (node == NULL) {
            return NGX_ERROR;
        }

        start = (ngx_uint_t) reply->element[i]->element[0]->integer;
        end = (ngx_uint_t) reply->element[i]->element[1]->integer;

        for (s = start; s <= end; s++) {
            cl->next_slots[s] = (uint16_t) (node->index + 1);
        }
    }

    slots = cl->slots;
    cl->slots = cl->next_slots;
    cl->next_slots = slots;

    for (i = 0; i < cl->nnodes; i++) {
        cl->nodes[i]->master = 0;
    }

    for (s = 0; s < NGX_HTTP_TENANT_REDIS_SLOTS; s++) {
        if (cl->slots[s]) {
            cl->nodes[cl->slots[s] - 1]->master = 1;
        }
    }

    /* a node that serves no slot any more is let go */

    for (i = 0; i < cl->nnodes; i++) {
        if (!cl->nodes[i]->master) {
            ngx_http_tenant_redis_node_retire(cl->nodes[i]);
        }
    }

    ngx_http_tenant_redis_cluster_health(cl);

    if (!cl->mapped) {
        ngx_log_error(NGX_LOG_INFO, &cl->log, 0,
                      "tenant: redis cluster slot map read from %V, "
                      "%ui ranges",
                      ngx_http_tenant_redis_conn_address(cl->probe),
                      (ngx_uint_t) reply->elements);
    }

    cl->mapped = 1;

    return NGX_OK;
}


/* one range of CLUSTER SLOTS, checked: its master */

static ngx_http_tenant_redis_node_t *
ngx_http_tenant_redis_cluster_range(ngx_http_tenant_redis_cluster_t *cl,
    ngx_http_tenant_redis_reply_t *range)
{
    ngx_str_t                       host;
    ngx_http_tenant_redis_reply_t  **e, **m;

    if (range->type != NGX_HTTP_TENANT_REDIS_ARRAY || range->elements < 3) {
        return NULL;
    }

    e = range->element;

    if (e[0]->type != NGX_HTTP_TENANT_REDIS_INTEGER
        || e[1]->type != NGX_HTTP_TENANT_REDIS_INTEGER
        || e[0]->integer < 0 || e[0]->integer > e[1]->integer
        || e[1]->integer >= NGX_HTTP_TENANT_REDIS_SLOTS
        || e[2]->type != NGX_HTTP_TENANT_REDIS_ARRAY
        || e[2]->elements < 2)
    {
        return NULL;
    }

    m = e[2]->element;

    if (m[0]->type != NGX_HTTP_TENANT_REDIS_STRING
        || m[1]->type != NGX_HTTP_TENANT_REDIS_INTEGER
        || m[1]->integer <= 0 || m[1]->integer > 65535)
    {
        return NULL;
    }

    host.data = m[0]->str;
    host.len = m[0]->len;

    /* "" or "?": the node does not know its own address, the one asked */

    if (host.len == 0 || (host.len == 1 && host.data[0] == '?')) {
        host = ngx_http_tenant_redis_cluster_candidate(cl)->host;
    }

    return ngx_http_tenant_redis_cluster_node(cl, &host,
                                              (in_port_t) m[1]->integer,
                                              NULL);
}


static void
ngx_http_tenant_redis_cluster_probed(ngx_http_tenant_redis_cluster_t *cl,
    ngx_uint_t ok)
{
    ngx_msec_t  delay;

    cl->probing = 0;

    if (!ok) {
        ngx_http_tenant_redis_log_link(&cl->log,
                                       "redis cluster: no node answered "
                                       "CLUSTER SLOTS, the slot map is %s",
                                       cl->mapped ? "kept" : "not known yet");
    }

    delay = cl->again ? NGX_HTTP_TENANT_CLUSTER_REFRESH_MIN
            : ok ? NGX_HTTP_TENANT_CLUSTER_REFRESH
            : NGX_HTTP_TENANT_CLUSTER_RETRY;

    ngx_add_timer(&cl->timer, delay);
}


/* the seed being asked for the map, as a node */

static ngx_http_tenant_redis_node_t *
ngx_http_tenant_redis_cluster_seed(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_uint_t                     n;
    ngx_http_tenant_redis_peer_t  *seed;

    n = cl->conf->cluster_seeds->nelts;
    seed = cl->conf->cluster_seeds->elts;
    seed += (cl->probe_next < n) ? cl->probe_next : 0;

    return ngx_http_tenant_redis_cluster_node(cl, &seed->host, seed->port,
                                              seed);
}


/* the node "host:port", made the first time it is named */

static ngx_http_tenant_redis_node_t *
ngx_http_tenant_redis_cluster_node(ngx_http_tenant_redis_cluster_t *cl,
    ngx_str_t *host, in_port_t port, ngx_http_tenant_redis_peer_t *seed)
{
    u_char                         buf[NGX_HTTP_TENANT_CLUSTER_NAME_LEN];
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_http_tenant_redis_node_t  *node;

    if (host->len > NGX_MAXHOSTNAMELEN) {
        return NULL;
    }

    name.data = buf;
    name.len = ngx_sprintf(buf, "%V:%d", host, (int) port) - buf;

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if (node->name.len == name.len
            && ngx_strncmp(node->name.data, name.data, name.len) == 0)
        {
            return node;
        }
    }

    if (cl->nnodes == NGX_HTTP_TENANT_CLUSTER_MAX_NODES) {
        ngx_http_tenant_redis_log_link(&cl->log,
                                       "redis cluster: too many nodes, "
                                       "\"%V\" is not used", &name);
        return NULL;
    }

    node = ngx_http_tenant_redis_node_create(&cl->log, cl->conf, cl->script,
                                             cl->sha1, &name, host->len, port,
                                             seed);
    if (node == NULL) {
        return NULL;
    }

    node->index = cl->nnodes;
    node->lost = ngx_http_tenant_redis_cluster_lost;
    node->ready = ngx_http_tenant_redis_cluster_ready;
    node->data = cl;

    cl->nodes[cl->nnodes++] = node;

    return node;
}


/* a master lost, or not reached, may have failed over */

static void
ngx_http_tenant_redis_cluster_lost(void *data)
{
    ngx_http_tenant_redis_cluster_health(data);
    ngx_http_tenant_redis_cluster_refresh(data);
}


static void
ngx_http_tenant_redis_cluster_ready(void *data, ngx_uint_t reconnected)
{
    if (reconnected) {
        ngx_http_tenant_metrics_redis_reconnect();
    }

    ngx_http_tenant_redis_cluster_health(data);
}


/*
 * For tenant_redis_up: the worker's Redis is up while no master of the
 * map has failed (one not opened yet counts as up, as it is asked for
 * only when a tenant of its slots comes).
 */

static void
ngx_http_tenant_redis_cluster_health(ngx_http_tenant_redis_cluster_t *cl)
{
    ngx_uint_t  i, up;

    up = 1;

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i]->master && !cl->nodes[i]->healthy) {
            up = 0;
            break;
        }
    }

    ngx_http_tenant_metrics_redis_link(up);
}


static u_char *
ngx_http_tenant_redis_cluster_log_handler(ngx_log_t *log, u_char *buf,
    size_t len)
{
    return ngx_snprintf(buf, len, ", redis cluster");
}
