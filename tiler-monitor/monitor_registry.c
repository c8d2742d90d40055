#include "monitor_registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include "monitor_cluster.h"
#include "tiler_json.h"
#include "tiler_log.h"

static void copy_str(char *dst, size_t n, yajl_val v)
{
    const char *s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
    snprintf(dst, n, "%s", s);
}

static long long get_int(yajl_val v)
{
    return YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

/* Adds this heartbeat to the worker's samples and sets its rate since the
 * newest sample at least a window old (or the oldest, while none is that
 * old), so that a heartbeat slower than the window still gives a rate. A
 * restarted worker (its pid changed, or its count went down) counts from
 * zero again: its old samples go, so no rate is negative. A heartbeat less
 * than half an interval after the last one (the backlog a restarted
 * monitor reads at once) replaces it: it measures no time. */
static void measure_rate(monitor_worker *w, long long pid_before, long long now_ms)
{
    int keep, i;
    if (w->samples && (w->pid != pid_before || w->tiles_done < w->sample_done[w->samples - 1]
                       || now_ms < w->sample_ms[w->samples - 1]))
        w->samples = 0;
    if (w->samples && now_ms - w->sample_ms[w->samples - 1] < w->interval_ms / 2) w->samples--;
    /* Drop samples while the next one is still old enough to span the window. */
    for (keep = 0; keep + 1 < w->samples && now_ms - w->sample_ms[keep + 1] >= MONITOR_RATE_WINDOW_MS; keep++)
        ;
    if (w->samples == MONITOR_RATE_SAMPLES && keep == 0) keep = 1;
    for (i = keep; i < w->samples; i++) {
        w->sample_ms[i - keep] = w->sample_ms[i];
        w->sample_done[i - keep] = w->sample_done[i];
    }
    w->samples -= keep;
    if (w->samples && now_ms > w->sample_ms[0])
        w->tiles_per_second = (double)(w->tiles_done - w->sample_done[0]) * 1000.0 / (double)(now_ms - w->sample_ms[0]);
    else
        w->tiles_per_second = 0;
    w->sample_ms[w->samples] = now_ms;
    w->sample_done[w->samples] = w->tiles_done;
    w->samples++;
}

int monitor_registry_heartbeat(monitor_registry *r, const char *json, size_t len, long long now_ms,
                               char *err, size_t errlen)
{
    char buf[4096], why[128];
    const char *p_id[] = { "id", NULL }, *p_host[] = { "host", NULL }, *p_pid[] = { "pid", NULL },
               *p_done[] = { "tiles_done", NULL }, *p_job[] = { "current_job", NULL },
               *p_up[] = { "uptime_s", NULL }, *p_ver[] = { "version", NULL }, *p_int[] = { "interval_ms", NULL },
               *p_threads[] = { "threads", NULL };
    yajl_val root, id;
    long long pid_before;
    const char *idstr;
    monitor_worker *w = NULL;
    int i;

    if (len >= sizeof(buf)) { snprintf(err, errlen, "heartbeat of %zu bytes is too large", len); return -1; }
    memcpy(buf, json, len);
    buf[len] = '\0';
    if (!(root = yajl_tree_parse(buf, why, sizeof(why)))) { snprintf(err, errlen, "heartbeat is not JSON"); return -1; }
    id = yajl_tree_get(root, p_id, yajl_t_string);
    idstr = id ? YAJL_GET_STRING(id) : NULL;
    if (!idstr || !*idstr) {
        yajl_tree_free(root);
        snprintf(err, errlen, "heartbeat has no worker id");
        return -1;
    }
    for (i = 0; i < r->count; i++)
        if (!strncmp(r->workers[i].id, idstr, sizeof(r->workers[i].id) - 1)) { w = &r->workers[i]; break; }
    if (!w) {
        if (r->count >= MONITOR_MAX_WORKERS) {
            yajl_tree_free(root);
            snprintf(err, errlen, "more than %d workers", MONITOR_MAX_WORKERS);
            return -1;
        }
        w = &r->workers[r->count++];
        memset(w, 0, sizeof(*w));
        copy_str(w->id, sizeof(w->id), id);
        tiler_log(TILER_LOG_INFO, "worker %s joined", w->id);
    } else if (w->state != MONITOR_ALIVE) {
        tiler_log(TILER_LOG_INFO, "worker %s is alive again (was %s)", w->id, w->state == MONITOR_DEAD ? "dead" : "suspect");
    }
    copy_str(w->host, sizeof(w->host), yajl_tree_get(root, p_host, yajl_t_string));
    copy_str(w->current_job, sizeof(w->current_job), yajl_tree_get(root, p_job, yajl_t_string));
    copy_str(w->version, sizeof(w->version), yajl_tree_get(root, p_ver, yajl_t_string));
    pid_before = w->pid;
    w->pid = get_int(yajl_tree_get(root, p_pid, yajl_t_number));
    w->tiles_done = get_int(yajl_tree_get(root, p_done, yajl_t_number));
    w->uptime_s = get_int(yajl_tree_get(root, p_up, yajl_t_number));
    w->threads = get_int(yajl_tree_get(root, p_threads, yajl_t_number));
    w->interval_ms = get_int(yajl_tree_get(root, p_int, yajl_t_number));
    if (w->interval_ms <= 0) w->interval_ms = 5000;
    measure_rate(w, pid_before, now_ms);
    w->last_seen_ms = now_ms;
    w->state = MONITOR_ALIVE;
    yajl_tree_free(root);
    return 0;
}

void monitor_registry_sweep(monitor_registry *r, long long now_ms)
{
    int i;
    for (i = 0; i < r->count; i++) {
        monitor_worker *w = &r->workers[i];
        long long age = now_ms - w->last_seen_ms;
        if (w->state == MONITOR_DEAD && r->forget_after_ms > 0 && age > r->forget_after_ms) {
            tiler_log(TILER_LOG_INFO, "worker %s forgotten: dead, no heartbeat for %lld s", w->id, age / 1000);
            memmove(w, w + 1, sizeof(*w) * (size_t)(r->count - i - 1));
            r->count--;
            i--;
        } else if (w->state != MONITOR_DEAD && age > r->dead_after_ms) {
            w->state = MONITOR_DEAD;
            w->tiles_per_second = 0;
            tiler_log(TILER_LOG_WARN, "worker %s is dead: no heartbeat for %lld ms", w->id, age);
        } else if (w->state == MONITOR_ALIVE && age > r->suspect_after_missed * w->interval_ms) {
            w->state = MONITOR_SUSPECT;
            tiler_log(TILER_LOG_WARN, "worker %s is suspect: %d heartbeats missed", w->id, r->suspect_after_missed);
        }
    }
}

static const char *state_name(int s)
{
    return s == MONITOR_ALIVE ? "alive" : s == MONITOR_SUSPECT ? "suspect" : "dead";
}

int monitor_registry_write(const monitor_registry *r, const void *cluster, const char *path, long long now_ms,
                           char *err, size_t errlen)
{
    char tmp[4200];
    const unsigned char *buf;
    size_t len;
    FILE *f;
    int i, bad, alive = 0;
    double rate = 0;
    yajl_gen g = yajl_gen_alloc(NULL);

    yajl_gen_map_open(g);
    tiler_json_str(g, "workers");
    yajl_gen_array_open(g);
    for (i = 0; i < r->count; i++) {
        const monitor_worker *w = &r->workers[i];
        yajl_gen_map_open(g);
        tiler_json_kv_str(g, "id", w->id);
        tiler_json_kv_str(g, "host", w->host);
        tiler_json_kv_int(g, "pid", w->pid);
        tiler_json_kv_str(g, "state", state_name(w->state));
        tiler_json_kv_double(g, "last_heartbeat_age_s", (double)(now_ms - w->last_seen_ms) / 1000.0);
        tiler_json_kv_int(g, "tiles_done", w->tiles_done);
        tiler_json_kv_double(g, "tiles_per_second", w->tiles_per_second);
        tiler_json_kv_str(g, "current_job", w->current_job[0] ? w->current_job : NULL);
        tiler_json_kv_int(g, "uptime_s", w->uptime_s);
        tiler_json_kv_int(g, "threads", w->threads);
        tiler_json_kv_str(g, "version", w->version);
        yajl_gen_map_close(g);
        if (w->state == MONITOR_ALIVE) { alive++; rate += w->tiles_per_second; }
    }
    yajl_gen_array_close(g);
    tiler_json_str(g, "cluster");
    if (cluster) monitor_cluster_json(g, cluster); else yajl_gen_null(g);
    tiler_json_str(g, "totals");
    yajl_gen_map_open(g);
    tiler_json_kv_int(g, "workers", r->count);
    tiler_json_kv_int(g, "workers_alive", alive);
    tiler_json_kv_double(g, "tiles_per_second", rate);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
    yajl_gen_get_buf(g, &buf, &len);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!(f = fopen(tmp, "w"))) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        yajl_gen_free(g);
        return -1;
    }
    bad = fwrite(buf, 1, len, f) != len;
    if (fclose(f) != 0) bad = 1;
    yajl_gen_free(g);
    if (bad) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
