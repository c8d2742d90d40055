/* mod_tiler: shared declarations of the httpd glue. Everything that does
 * not need httpd lives in libtiler/. */
#ifndef MOD_TILER_H
#define MOD_TILER_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_tables.h>

#include "tiler_kafka.h"

/* mod_tiler.c declares the module, which also declares its log index. */
#ifndef MOD_TILER_DECLARES_MODULE
APLOG_USE_MODULE(tiler);
#endif
extern module AP_MODULE_DECLARE_DATA tiler_module;

/* Server-wide settings. Unset values are -1 / NULL until merged, and take
 * their defaults from tiler_defaults.h in tiler_config_finish(). */
typedef struct {
    const char *brokers;
    const char *spool_dir;
    int tile_size;
    const char *topic_tasks, *topic_results, *topic_heartbeats, *topic_dead_letters;
    const char *results_group;
    const char *worker_group;          /* whose progress on tasks the resend check reads */
    const char *monitor_snapshot;
    apr_array_header_t *kafka_props;   /* of tiler_prop */
    apr_off_t max_upload_bytes;
    apr_int64_t max_pixels;
    apr_int64_t max_whole_decode_pixels;   /* for formats that decode whole */
    int max_ops;
    int produce_timeout_ms;
    int topic_replication;
    int tasks_partitions;              /* the tasks topic has at least this many */
    const char *htdocs_dir;
    int max_event_streams;
    int event_stream_seconds;
    int stuck_seconds;
    int resend_seconds;
    int encode_threads;      /* result encoder threads in the results consumer's child */      /* 0: never produce lost tiles again */
    int max_jobs;
    int job_ttl_seconds;     /* 0: keep finished jobs */
    apr_int64_t max_band_bytes;        /* an upload's band: wide images get smaller tiles */
    apr_int64_t preview_above_pixels;  /* job pages show a preview, not the result, above this */
    int zoom;                /* TilerZoom: build a zoom pyramid for results above preview_above_pixels */
    int png_rows;            /* TilerPngRows: PNG jobs' workers deflate their rows (codec 3) */
} tiler_srv_conf;

tiler_srv_conf *tiler_srv(server_rec *s);
/* The topics this server uses, for tiler_kafka_ensure_topics. */
tiler_topics tiler_srv_topics(const tiler_srv_conf *c);
const char *tiler_store_path(apr_pool_t *p, const tiler_srv_conf *c);

#endif
