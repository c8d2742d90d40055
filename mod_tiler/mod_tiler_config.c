#include "mod_tiler_config.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <http_core.h>
#include <http_main.h>   /* ap_server_conf */
#include "tiler_defaults.h"

tiler_srv_conf *tiler_srv(server_rec *s)
{
    return ap_get_module_config(s->module_config, &tiler_module);
}

/* A topic grown by the producer or the results consumer: one info line. */
static void note_topics(void *arg, const char *line)
{
    (void)arg;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf, APLOGNO(30040) "%s", line);
}

tiler_topics tiler_srv_topics(const tiler_srv_conf *c)
{
    tiler_topics t = { c->topic_tasks, c->topic_results, c->topic_heartbeats, c->topic_dead_letters, c->topic_replication,
                       c->tasks_partitions, note_topics, NULL };
    return t;
}

void *tiler_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    tiler_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->tile_size = -1;
    c->max_upload_bytes = -1;
    c->max_pixels = -1;
    c->max_whole_decode_pixels = -1;
    c->max_ops = -1;
    c->produce_timeout_ms = -1;
    c->topic_replication = -2;
    c->tasks_partitions = -1;
    c->max_event_streams = -1;
    c->event_stream_seconds = -1;
    c->stuck_seconds = -1;
    c->resend_seconds = -1;
    c->encode_threads = -1;
    c->max_jobs = -1;
    c->job_ttl_seconds = -1;
    c->preview_above_pixels = -1;
    c->zoom = -1;
    c->png_rows = -1;
    c->max_band_bytes = -1;
    c->kafka_props = apr_array_make(p, 4, sizeof(tiler_prop));
    return c;
}

#define PICK(f, unset) c->f = (add->f != (unset)) ? add->f : base->f

void *tiler_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    tiler_srv_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    PICK(brokers, NULL); PICK(spool_dir, NULL); PICK(tile_size, -1);
    PICK(topic_tasks, NULL); PICK(topic_results, NULL); PICK(topic_heartbeats, NULL); PICK(topic_dead_letters, NULL);
    PICK(results_group, NULL); PICK(worker_group, NULL); PICK(resend_seconds, -1); PICK(encode_threads, -1); PICK(monitor_snapshot, NULL);
    PICK(max_upload_bytes, -1); PICK(max_pixels, -1); PICK(max_whole_decode_pixels, -1); PICK(max_ops, -1);
    PICK(produce_timeout_ms, -1); PICK(topic_replication, -2); PICK(tasks_partitions, -1);
    PICK(htdocs_dir, NULL); PICK(max_event_streams, -1); PICK(event_stream_seconds, -1); PICK(stuck_seconds, -1); PICK(max_jobs, -1); PICK(job_ttl_seconds, -1);
    PICK(preview_above_pixels, -1); PICK(max_band_bytes, -1); PICK(zoom, -1); PICK(png_rows, -1);
    c->kafka_props = apr_array_append(p, base->kafka_props, add->kafka_props);
    return c;
}

/* ---- one setter per kind of value; cmd->info says which field and range ---- */

typedef struct { size_t offset; apr_int64_t min, max; int is_int; } number_spec;
typedef struct { size_t offset; int kind; } string_spec;
enum { STR_BROKERS, STR_TOPIC, STR_GROUP };

static const char *set_number(cmd_parms *cmd, void *dc, const char *arg)
{
    const number_spec *spec = cmd->info;
    tiler_srv_conf *c = tiler_srv(cmd->server);
    char *end;
    apr_int64_t v;
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    (void)dc;
    if (err) return err;
    v = apr_strtoi64(arg, &end, 10);
    if (!*arg || *end || errno == ERANGE || v < spec->min || v > spec->max)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number in %" APR_INT64_T_FMT "..%" APR_INT64_T_FMT,
                            cmd->cmd->name, arg, spec->min, spec->max);
    if (spec->is_int) *(int *)((char *)c + spec->offset) = (int)v;
    else *(apr_int64_t *)((char *)c + spec->offset) = v;
    return NULL;
}

/* Kafka topic and group names: [A-Za-z0-9._-], at most 249 characters. */
static int kafka_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 249) return 0;
    for (; *s; s++)
        if (!apr_isalnum(*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

static const char *set_string(cmd_parms *cmd, void *dc, const char *arg)
{
    const string_spec *spec = cmd->info;
    tiler_srv_conf *c = tiler_srv(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    (void)dc;
    if (err) return err;
    if (spec->kind == STR_BROKERS) {
        if (!*arg || strpbrk(arg, " \t\r\n"))
            return apr_psprintf(cmd->pool, "%s: '%s' is not a comma-separated host:port list", cmd->cmd->name, arg);
    } else if (!kafka_name_ok(arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid Kafka name ([A-Za-z0-9._-], 1-249 characters)",
                            cmd->cmd->name, arg);
    }
    *(const char **)((char *)c + spec->offset) = arg;
    return NULL;
}

static const char *set_path(cmd_parms *cmd, void *dc, const char *arg)
{
    tiler_srv_conf *c = tiler_srv(cmd->server);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    (void)dc;
    if (err) return err;
    if (!path || !*arg) return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    *(const char **)((char *)c + (size_t)cmd->info) = path;
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dc, int on)
{
    tiler_srv_conf *c = tiler_srv(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    (void)dc;
    if (err) return err;
    *(int *)((char *)c + (size_t)cmd->info) = on;
    return NULL;
}

static const char *set_kafka_property(cmd_parms *cmd, void *dc, const char *key, const char *value)
{
    tiler_srv_conf *c = tiler_srv(cmd->server);
    tiler_prop *p;
    char why[256];
    rd_kafka_conf_t *probe;
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    (void)dc;
    if (err) return err;
    /* Checked against librdkafka now, so a typo fails startup and names itself. */
    probe = rd_kafka_conf_new();
    if (rd_kafka_conf_set(probe, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(probe);
        return apr_psprintf(cmd->pool, "TilerKafkaProperty %s: %s", key, why);
    }
    rd_kafka_conf_destroy(probe);
    p = apr_array_push(c->kafka_props);
    p->key = key;
    p->value = value;
    return NULL;
}

#define NUM(f, lo, hi, isint) &(number_spec){ APR_OFFSETOF(tiler_srv_conf, f), lo, hi, isint }
#define STR(f, kind) &(string_spec){ APR_OFFSETOF(tiler_srv_conf, f), kind }
#define PATH(f) (void *)APR_OFFSETOF(tiler_srv_conf, f)

const command_rec tiler_directives[] = {
    AP_INIT_TAKE1("TilerBrokers", set_string, STR(brokers, STR_BROKERS), RSRC_CONF,
                  "Kafka bootstrap servers, host:port[,host:port...]"),
    AP_INIT_TAKE1("TilerSpoolDir", set_path, PATH(spool_dir), RSRC_CONF,
                  "Directory for uploads, rasters, results and the job store"),
    AP_INIT_TAKE1("TilerTileSize", set_number, NUM(tile_size, TILER_MIN_TILE_SIZE, TILER_MAX_TILE_SIZE, 1), RSRC_CONF,
                  "Side of a square tile in pixels"),
    AP_INIT_TAKE1("TilerTasksTopic", set_string, STR(topic_tasks, STR_TOPIC), RSRC_CONF, "Topic for tiles to process"),
    AP_INIT_TAKE1("TilerResultsTopic", set_string, STR(topic_results, STR_TOPIC), RSRC_CONF, "Topic for processed tiles"),
    AP_INIT_TAKE1("TilerHeartbeatsTopic", set_string, STR(topic_heartbeats, STR_TOPIC), RSRC_CONF, "Topic for worker heartbeats"),
    AP_INIT_TAKE1("TilerDeadLetterTopic", set_string, STR(topic_dead_letters, STR_TOPIC), RSRC_CONF,
                  "Topic where workers copy task messages they cannot process"),
    AP_INIT_TAKE1("TilerResultsGroup", set_string, STR(results_group, STR_GROUP), RSRC_CONF,
                  "Consumer group of the results consumer inside httpd"),
    AP_INIT_TAKE1("TilerWorkerGroup", set_string, STR(worker_group, STR_GROUP), RSRC_CONF,
                  "Consumer group of the tiler-workers (their progress tells lost tiles apart from slow ones)"),
    AP_INIT_TAKE1("TilerMonitorSnapshot", set_path, PATH(monitor_snapshot), RSRC_CONF,
                  "File tiler-monitor writes; served at {loc}/api/workers"),
    AP_INIT_TAKE2("TilerKafkaProperty", set_kafka_property, NULL, RSRC_CONF,
                  "A librdkafka property passed through (TLS, SASL, ...)"),
    AP_INIT_TAKE1("TilerMaxUploadBytes", set_number, NUM(max_upload_bytes, 1, APR_INT64_C(1) << 40, 0), RSRC_CONF,
                  "Largest upload in bytes"),
    AP_INIT_TAKE1("TilerMaxPixels", set_number, NUM(max_pixels, 1, TILER_HARD_MAX_PIXELS, 0), RSRC_CONF,
                  "Largest image in pixels (width x height), checked before decoding"),
    AP_INIT_TAKE1("TilerMaxWholeDecodePixels", set_number, NUM(max_whole_decode_pixels, 1, TILER_HARD_MAX_PIXELS, 0), RSRC_CONF,
                  "Largest image of a kind that decodes whole (interlaced PNG, progressive JPEG, GIF, BMP, WebP)"),
    AP_INIT_TAKE1("TilerMaxBandBytes", set_number, NUM(max_band_bytes, 1024 * 1024, APR_INT64_C(1) << 40, 0), RSRC_CONF,
                  "An upload's rows held at once (width x (tile + 2 halo) x 4 bytes): wider images get smaller tiles"),
    AP_INIT_TAKE1("TilerMaxOps", set_number, NUM(max_ops, 1, TILER_MAX_OPS, 1), RSRC_CONF, "Most ops in one chain"),
    AP_INIT_TAKE1("TilerProduceTimeout", set_number, NUM(produce_timeout_ms, 1000, 600000, 1), RSRC_CONF,
                  "Milliseconds to wait for Kafka to acknowledge a job's tiles"),
    AP_INIT_TAKE1("TilerHtdocsDir", set_path, PATH(htdocs_dir), RSRC_CONF,
                  "Where the upload page, dashboard and their scripts are installed"),
    AP_INIT_TAKE1("TilerMaxEventStreams", set_number, NUM(max_event_streams, 0, 1024, 1), RSRC_CONF,
                  "Server-Sent Event streams one httpd child serves at once (each holds a thread)"),
    AP_INIT_TAKE1("TilerEventStreamSeconds", set_number, NUM(event_stream_seconds, 5, 86400, 1), RSRC_CONF,
                  "How long one event stream lasts before the browser reconnects"),
    AP_INIT_TAKE1("TilerMaxJobs", set_number, NUM(max_jobs, 1, 100000, 1), RSRC_CONF,
                  "Most jobs queued or running at once; more get 503 with Retry-After"),
    AP_INIT_TAKE1("TilerJobTTL", set_number, NUM(job_ttl_seconds, 0, 365 * 86400, 1), RSRC_CONF,
                  "Seconds a finished job and its files are kept (0: forever)"),
    AP_INIT_TAKE1("TilerStuckSeconds", set_number, NUM(stuck_seconds, 1, 86400, 1), RSRC_CONF,
                  "A job with no progress this long while the workers have a backlog is flagged stuck"),
    AP_INIT_TAKE1("TilerResendSeconds", set_number, NUM(resend_seconds, 0, 86400, 1), RSRC_CONF,
                  "Produce a job's missing tiles again after this long without progress once the workers are past them (0: never)"),
    AP_INIT_TAKE1("TilerEncodeThreads", set_number, NUM(encode_threads, 1, 64, 1), RSRC_CONF,
                  "Threads that encode results, in the httpd child running the results consumer"),
    AP_INIT_TAKE1("TilerTopicReplication", set_number, NUM(topic_replication, -1, 32, 1), RSRC_CONF,
                  "Replication factor for topics mod_tiler creates (-1: broker default)"),
    AP_INIT_TAKE1("TilerTasksPartitions", set_number, NUM(tasks_partitions, 1, TILER_MAX_TASKS_PARTITIONS, 1), RSRC_CONF,
                  "Partitions of the tasks topic: at least the worker threads of all hosts (an existing topic with fewer is grown)"),
    AP_INIT_TAKE1("TilerPreviewAbovePixels", set_number, NUM(preview_above_pixels, 0, APR_INT64_C(1) << 40, 0), RSRC_CONF,
                  "Job pages show a preview made from the result, not the result, above this many pixels"),
    AP_INIT_FLAG("TilerPngRows", set_flag, (void *)APR_OFFSETOF(tiler_srv_conf, png_rows), RSRC_CONF,
                 "On: the workers deflate a PNG result's rows and the web host joins them (every worker must be of this build or later)"),
    AP_INIT_FLAG("TilerZoom", set_flag, (void *)APR_OFFSETOF(tiler_srv_conf, zoom), RSRC_CONF,
                 "Build a zoomable view (DZI pyramid) of each result above TilerPreviewAbovePixels"),
    { NULL }
};

const char *tiler_config_finish(apr_pool_t *p, server_rec *s, tiler_srv_conf *c)
{
    char why[512];
    rd_kafka_conf_t *probe;
    if (!c->brokers) c->brokers = TILER_DEFAULT_BROKERS;
    if (!c->spool_dir) c->spool_dir = ap_server_root_relative(p, TILER_DEFAULT_SPOOL_DIR);
    if (c->tile_size < 0) c->tile_size = TILER_DEFAULT_TILE_SIZE;
    if (!c->topic_tasks) c->topic_tasks = TILER_DEFAULT_TOPIC_TASKS;
    if (!c->topic_results) c->topic_results = TILER_DEFAULT_TOPIC_RESULTS;
    if (!c->topic_heartbeats) c->topic_heartbeats = TILER_DEFAULT_TOPIC_HEARTBEATS;
    if (!c->topic_dead_letters) c->topic_dead_letters = TILER_DEFAULT_TOPIC_DEAD_LETTERS;
    if (!c->results_group) c->results_group = TILER_DEFAULT_RESULTS_GROUP;
    if (!c->worker_group) c->worker_group = TILER_DEFAULT_WORKER_GROUP;
    if (c->resend_seconds < 0) c->resend_seconds = TILER_DEFAULT_RESEND_SECONDS;
    if (c->encode_threads < 0) c->encode_threads = TILER_DEFAULT_ENCODE_THREADS;
    if (c->max_upload_bytes < 0) c->max_upload_bytes = TILER_DEFAULT_MAX_UPLOAD;
    if (c->max_pixels < 0) c->max_pixels = TILER_DEFAULT_MAX_PIXELS;
    if (c->max_whole_decode_pixels < 0) c->max_whole_decode_pixels = TILER_DEFAULT_MAX_WHOLE_DECODE_PIXELS;
    if (c->max_band_bytes < 0) c->max_band_bytes = TILER_DEFAULT_MAX_BAND_BYTES;
    if (c->max_ops < 0) c->max_ops = TILER_MAX_OPS;
    if (c->produce_timeout_ms < 0) c->produce_timeout_ms = TILER_DEFAULT_PRODUCE_TIMEOUT_MS;
    if (c->topic_replication < -1) c->topic_replication = -1;
    if (c->tasks_partitions < 0) c->tasks_partitions = TILER_TASKS_PARTITIONS;
    if (!c->htdocs_dir) c->htdocs_dir = TILER_HTDOCS_DIR;
    if (c->max_event_streams < 0) c->max_event_streams = TILER_DEFAULT_MAX_EVENT_STREAMS;
    if (c->stuck_seconds < 0) c->stuck_seconds = TILER_DEFAULT_STUCK_SECONDS;
    if (c->max_jobs < 0) c->max_jobs = TILER_DEFAULT_MAX_JOBS;
    if (c->job_ttl_seconds < 0) c->job_ttl_seconds = TILER_DEFAULT_JOB_TTL;
    if (c->event_stream_seconds < 0) c->event_stream_seconds = TILER_DEFAULT_EVENT_STREAM_SECONDS;
    if (c->preview_above_pixels < 0) c->preview_above_pixels = TILER_DEFAULT_PREVIEW_ABOVE_PIXELS;
    if (c->zoom < 0) c->zoom = TILER_DEFAULT_ZOOM;
    if (c->png_rows < 0) c->png_rows = TILER_DEFAULT_PNG_ROWS;
    /* Build both client configs once now (no client, no threads before fork)
     * so that a property that does not fit a role fails startup. */
    probe = tiler_kafka_conf_new(TILER_KAFKA_PRODUCER, c->brokers, (const tiler_prop *)c->kafka_props->elts,
                                 c->kafka_props->nelts, why, sizeof(why));
    if (!probe) return apr_pstrdup(p, why);
    rd_kafka_conf_destroy(probe);
    probe = tiler_kafka_conf_new(TILER_KAFKA_CONSUMER, c->brokers, (const tiler_prop *)c->kafka_props->elts,
                                 c->kafka_props->nelts, why, sizeof(why));
    if (!probe) return apr_pstrdup(p, why);
    rd_kafka_conf_destroy(probe);
    (void)s;
    return NULL;
}

const char *tiler_store_path(apr_pool_t *p, const tiler_srv_conf *c)
{
    return apr_pstrcat(p, c->spool_dir, "/tiler.db", NULL);
}

/* ---- what a virtual host may set for itself ---- */

/* One Kafka producer per child, one results consumer (with its spool, job
 * store, encoder threads, resend check and sweep) per server: all made from
 * the main server's settings. A virtual host with its own value for any of
 * these would never see its jobs assembled, so it is refused at startup.
 * Everything else is read per request from the request's server. */
typedef struct { const char *name; size_t offset; enum { G_STR, G_INT } kind; } global_only;

#define G(name, f, kind) { name, APR_OFFSETOF(tiler_srv_conf, f), kind }
static const global_only global_directives[] = {
    G("TilerBrokers", brokers, G_STR),
    G("TilerSpoolDir", spool_dir, G_STR),
    G("TilerTasksTopic", topic_tasks, G_STR),
    G("TilerResultsTopic", topic_results, G_STR),
    G("TilerHeartbeatsTopic", topic_heartbeats, G_STR),
    G("TilerDeadLetterTopic", topic_dead_letters, G_STR),
    G("TilerResultsGroup", results_group, G_STR),
    G("TilerWorkerGroup", worker_group, G_STR),
    G("TilerProduceTimeout", produce_timeout_ms, G_INT),
    G("TilerTopicReplication", topic_replication, G_INT),
    G("TilerTasksPartitions", tasks_partitions, G_INT),
    G("TilerResendSeconds", resend_seconds, G_INT),
    G("TilerEncodeThreads", encode_threads, G_INT),
    G("TilerJobTTL", job_ttl_seconds, G_INT),
    G("TilerMaxEventStreams", max_event_streams, G_INT),   /* a cap on one child's threads */
    G("TilerZoom", zoom, G_INT),   /* the results consumer builds the pyramids */
};

static int props_differ(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int i;
    if (a->nelts != b->nelts) return 1;
    for (i = 0; i < a->nelts; i++) {
        const tiler_prop *x = &APR_ARRAY_IDX(a, i, tiler_prop), *y = &APR_ARRAY_IDX(b, i, tiler_prop);
        if (strcmp(x->key, y->key) || strcmp(x->value, y->value)) return 1;
    }
    return 0;
}

/* Merged configs: a virtual host that set nothing holds the main server's
 * values, so any difference is a directive set inside <VirtualHost>. */
const char *tiler_config_check_vhost(apr_pool_t *p, server_rec *main_s, server_rec *vs)
{
    const tiler_srv_conf *m = tiler_srv(main_s), *v = tiler_srv(vs);
    const char *name = NULL;
    size_t i;
    for (i = 0; i < sizeof(global_directives) / sizeof(global_directives[0]) && !name; i++) {
        const global_only *g = &global_directives[i];
        if (g->kind == G_STR) {
            const char *a = *(const char *const *)((const char *)m + g->offset);
            const char *b = *(const char *const *)((const char *)v + g->offset);
            if ((a || b) && (!a || !b || strcmp(a, b))) name = g->name;
        } else if (*(const int *)((const char *)m + g->offset) != *(const int *)((const char *)v + g->offset)) {
            name = g->name;
        }
    }
    if (!name && props_differ(m->kafka_props, v->kafka_props)) name = "TilerKafkaProperty";
    if (!name) return NULL;
    return apr_psprintf(p, "%s is set in <VirtualHost %s:%u> (%s:%d) to a value of its own, but it can only be "
                        "set for the whole server: there is one Kafka producer per child and one results consumer, "
                        "made from the main server's settings. Move it out of <VirtualHost> (see README, Directives)",
                        name, vs->server_hostname ? vs->server_hostname : "*", (unsigned)vs->port,
                        vs->defn_name ? vs->defn_name : "?", vs->defn_line_number);
}
