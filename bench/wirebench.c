/* bench/wirebench BROKERS IMAGE: the tile payload, measured. Cuts IMAGE's
 * tasks for blur:3 (512-pixel tiles) as the module does, then
 *  - produces them all through a real broker with compression.type none,
 *    lz4 and zstd (acks=all), and reads them back, timing both and taking
 *    the bytes on the wire from librdkafka's own statistics;
 *  - encodes each tile's pixels as PNG at level 1 and decodes it again (what
 *    a PNG payload would cost each side), timing both.
 * Prints one line per payload. bench/wire runs it; docs/protocol.md has
 * the numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>
#include <yajl/yajl_tree.h>
#include "tiler_defaults.h"
#include "tiler_grid.h"
#include "tiler_image.h"
#include "tiler_kafka.h"
#include "tiler_msg.h"
#include "tiler_png.h"
#include "tiler_tile.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The latest statistics' bytes sent and received, summed over brokers. */
static long long txbytes, rxbytes;

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    const char *brokers[] = { "brokers", NULL };
    yajl_val root = yajl_tree_parse(json, NULL, 0), b;
    size_t i;
    long long tx = 0, rx = 0;
    (void)rk; (void)len; (void)opaque;
    if (root && (b = yajl_tree_get(root, brokers, yajl_t_object))) {
        for (i = 0; i < b->u.object.len; i++) {
            const char *ktx[] = { "txbytes", NULL }, *krx[] = { "rxbytes", NULL };
            yajl_val t = yajl_tree_get(b->u.object.values[i], ktx, yajl_t_number);
            yajl_val r = yajl_tree_get(b->u.object.values[i], krx, yajl_t_number);
            if (t) tx += YAJL_GET_INTEGER(t);
            if (r) rx += YAJL_GET_INTEGER(r);
        }
        txbytes = tx;
        rxbytes = rx;
    }
    yajl_tree_free(root);
    return 0;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers, const char *codec, const char *group)
{
    char err[512];
    rd_kafka_conf_t *c = tiler_kafka_conf_new(type == RD_KAFKA_PRODUCER ? TILER_KAFKA_PRODUCER : TILER_KAFKA_CONSUMER,
                                              brokers, NULL, 0, err, sizeof(err));
    if (!c) { fprintf(stderr, "wirebench: %s\n", err); exit(1); }
    if (codec) rd_kafka_conf_set(c, "compression.type", codec, err, sizeof(err));
    if (group) rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
    rd_kafka_conf_set(c, "statistics.interval.ms", "100", err, sizeof(err));
    rd_kafka_conf_set_stats_cb(c, on_stats);
    return rd_kafka_new(type, c, err, sizeof(err));
}

/* Waits for statistics taken after everything so far. */
static void settle(rd_kafka_t *rk)
{
    double until = now() + 0.35;
    while (now() < until) rd_kafka_poll(rk, 50);
}

static void create_topic(rd_kafka_t *rk, const char *name)
{
    char err[256], maxbytes[32];
    rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(name, 1, 1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    snprintf(maxbytes, sizeof(maxbytes), "%d", TILER_MAX_MESSAGE_BYTES + 65536);
    rd_kafka_NewTopic_set_config(t, "max.message.bytes", maxbytes);
    rd_kafka_CreateTopics(rk, &t, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 15000);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(t);
    rd_kafka_queue_destroy(q);
    sleep(1);   /* the leader settles */
}

static void through_kafka(const char *brokers, const char *codec, unsigned char **msgs, size_t *lens, uint32_t n,
                          double raw)
{
    char topic[128], group[160];
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, brokers, codec, NULL), *c;
    rd_kafka_topic_partition_list_t *parts;
    double t0, produce_s, consume_s;
    long long tx0, rx0;
    uint32_t i, got = 0;

    snprintf(topic, sizeof(topic), "wirebench-%s-%d", codec, (int)getpid());
    snprintf(group, sizeof(group), "%s-reader", topic);
    create_topic(p, topic);
    settle(p);
    tx0 = txbytes;
    t0 = now();
    for (i = 0; i < n; i++)
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(msgs[i], lens[i]), RD_KAFKA_V_END)
               == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
    rd_kafka_flush(p, 60000);
    produce_s = now() - t0;
    settle(p);
    tx0 = txbytes - tx0;
    rd_kafka_destroy(p);

    c = client(RD_KAFKA_CONSUMER, brokers, NULL, group);
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    settle(c);
    rx0 = rxbytes;
    t0 = now();
    rd_kafka_assign(c, parts);
    while (got < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (!m) continue;
        if (!m->err) got++;
        rd_kafka_message_destroy(m);
    }
    consume_s = now() - t0;
    settle(c);
    rx0 = rxbytes - rx0;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    printf("kafka %-5s  sent %7.1f MiB (%.2f of raw)  read %7.1f MiB  produce+ack %6.2f s  consume %6.2f s\n", codec,
           (double)tx0 / 1048576, (double)tx0 / raw, (double)rx0 / 1048576, produce_s, consume_s);
}

static void as_png(unsigned char **msgs, size_t *lens, uint32_t n, double raw)
{
    double enc = 0, dec = 0, t0;
    size_t total = 0;
    uint32_t i;
    for (i = 0; i < n; i++) {
        tiler_msg m;
        char err[256], *buf = NULL;
        size_t blen = 0;
        FILE *f = open_memstream(&buf, &blen);
        gdImagePtr im, back;
        uint32_t y;
        if (tiler_msg_decode(&m, msgs[i], lens[i], err, sizeof(err)) < 0) { fprintf(stderr, "wirebench: %s\n", err); exit(1); }
        im = gdImageCreateTrueColor((int)m.src.w, (int)m.src.h);
        for (y = 0; y < m.src.h; y++) memcpy(im->tpixels[y], m.pixels + (size_t)y * m.src.w * 4, (size_t)m.src.w * 4);
        t0 = now();
        if (tiler_png_save_image(im, f, 1, err, sizeof(err)) < 0) { fprintf(stderr, "wirebench: %s\n", err); exit(1); }
        fclose(f);
        enc += now() - t0;
        total += blen;
        t0 = now();
        back = gdImageCreateFromPngPtr((int)blen, buf);
        dec += now() - t0;
        if (!back) { fprintf(stderr, "wirebench: PNG did not decode\n"); exit(1); }
        gdImageDestroy(back);
        gdImageDestroy(im);
        free(buf);
    }
    printf("png-1        size %7.1f MiB (%.2f of raw)  encode %6.2f s  decode %6.2f s (one core, both ways per tile)\n",
           (double)total / 1048576, (double)total / raw, enc, dec);
}

int main(int argc, char **argv)
{
    const char *codecs[] = { "none", "lz4", "zstd" };
    unsigned char id[16] = { 1 }, **msgs;
    size_t *lens;
    char err[512];
    tiler_format fmt;
    uint32_t w, h, n, i;
    tiler_grid g;
    gdImagePtr im;
    double raw = 0;
    FILE *f;

    if (argc != 3) { fprintf(stderr, "usage: tiler-wirebench BROKERS IMAGE\n"); return 2; }
    if (!(f = fopen(argv[2], "rb")) || tiler_probe_file(f, &fmt, &w, &h, err, sizeof(err)) < 0) {
        fprintf(stderr, "wirebench: cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    if (!(im = tiler_image_load(argv[2], fmt, err, sizeof(err)))) { fprintf(stderr, "wirebench: %s\n", err); return 1; }
    tiler_grid_init(&g, w, h, TILER_DEFAULT_TILE_SIZE, 9);   /* blur:3 */
    n = tiler_grid_count(&g);
    msgs = calloc(n, sizeof(*msgs));
    lens = calloc(n, sizeof(*lens));
    for (i = 0; i < n; i++) {
        msgs[i] = tiler_tile_task(im, &g, i, id, "blur:3", 0, &lens[i]);
        raw += (double)lens[i];
    }
    gdImageDestroy(im);
    printf("%u tasks of %ux%u (blur:3, %d-pixel tiles): %.1f MiB raw\n", n, w, h, TILER_DEFAULT_TILE_SIZE, raw / 1048576);
    for (i = 0; i < 3; i++) through_kafka(argv[1], codecs[i], msgs, lens, n, raw);
    as_png(msgs, lens, n, raw);
    for (i = 0; i < n; i++) free(msgs[i]);
    free(msgs);
    free(lens);
    return 0;
}
