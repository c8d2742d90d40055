#include "mod_tiler_encoder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_pool.h>
#include "mod_tiler_results.h"
#include "tiler_defaults.h"
#include "tiler_id.h"
#include "tiler_png.h"
#include "tiler_spool.h"

struct tiler_encoder {
    server_rec *s;
    tiler_srv_conf *c;
    apr_thread_pool_t *tp;
    apr_thread_mutex_t *lock;
    apr_hash_t *finishing;     /* ids with a finish queued or running; keys malloc'd */
};

typedef struct {
    tiler_encoder *e;
    char id[TILER_ID_HEX_LEN + 1];
    uint32_t strip;
} task;

tiler_encoder *tiler_encoder_create(server_rec *s, apr_pool_t *p)
{
    tiler_encoder *e = apr_pcalloc(p, sizeof(*e));
    e->s = s;
    e->c = tiler_srv(s);
    e->finishing = apr_hash_make(p);
    if (apr_thread_mutex_create(&e->lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS
        || apr_thread_pool_create(&e->tp, 0, (apr_size_t)e->c->encode_threads, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30801) "cannot start the result encoder threads; "
                     "results are encoded on the results consumer's thread");
        e->tp = NULL;
    }
    return e;
}

/* The result's PNG colour type. grayscale makes red = green = blue, and
 * blur and invert treat the channels alike, so a chain with grayscale
 * anywhere ends gray (the encoder checks every pixel all the same). */
static int job_color(const tiler_job *job)
{
    return tiler_png_color(job->alpha, strstr(job->ops, "grayscale") != NULL);
}

static uint32_t strip_count(const tiler_job *job)
{
    return (job->height + job->tile_size - 1) / job->tile_size;
}

int tiler_encode_strip(const tiler_srv_conf *c, const tiler_job *job, uint32_t k, char *err, size_t errlen)
{
    char raster[4096], path[4096];
    uint32_t top = k * job->tile_size, rows, i;
    tiler_png_strip strip;
    int *px = NULL, rc = -1;
    const int **rowp = NULL;

    if (top >= job->height) { snprintf(err, errlen, "strip %u is past the image", k); return -1; }
    rows = job->height - top < job->tile_size ? job->height - top : job->tile_size;
    if (tiler_spool_path(raster, sizeof(raster), c->spool_dir, job->id, TILER_SPOOL_RASTER) < 0
        || tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
        snprintf(err, errlen, "no spool path for strip %u", k);
        return -1;
    }
    px = malloc((size_t)job->width * rows * sizeof(int));
    rowp = malloc(rows * sizeof(*rowp));
    if (!px || !rowp) { snprintf(err, errlen, "out of memory for strip %u", k); goto out; }
    if (tiler_raster_read_rows(raster, job->width, top, rows, px, err, errlen) < 0) goto out;
    for (i = 0; i < rows; i++) rowp[i] = px + (size_t)i * job->width;
    if (tiler_png_strip_encode(rowp, job->width, rows, job_color(job), TILER_PNG_LEVEL, k + 1 == strip_count(job), &strip,
                               err, errlen) < 0)
        goto out;
    rc = tiler_png_strip_save(path, &strip, err, errlen);
    tiler_png_strip_free(&strip);
out:
    free(px);
    free(rowp);
    return rc;
}

/* A job's files can go while a task works on them: DELETE (from any
 * child) removes its row and then its directory, and a failed or finished
 * job drops its work files. So a task looks at the job again after it has
 * written: if the row is gone, DELETE may have swept the directory before
 * the task wrote, and what the task wrote is the task's to remove. Either
 * the task sees the row (then DELETE's sweep comes later and removes what
 * it wrote) or it does not (then it removes it): nothing is left behind.
 * Returns 1 when the job was removed (and its directory now is), 0 when it
 * is still there or the store cannot tell. */
int tiler_encoder_removed(const tiler_srv_conf *c, tiler_store *store, const char *id, apr_pool_t *p)
{
    tiler_job job;
    if (tiler_store_get_job(store, id, &job, p) != 1) return 0;
    tiler_spool_remove(c->spool_dir, id);
    return 1;
}

/* Fails the job and frees its disk: raster, upload and strips. A job
 * removed meanwhile is no failure: it is only tidied away. */
static void fail_png(server_rec *s, tiler_store *store, const tiler_job *job, const char *why, apr_pool_t *p)
{
    if (tiler_encoder_removed(tiler_srv(s), store, job->id, p)) return;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30802) "job %s: cannot write the result: %s", job->id, why);
    tiler_spool_drop_work(tiler_srv(s)->spool_dir, job->id);
    tiler_store_finish(store, job->id, "failed", why);
}

/* Joins the strips into the result file at tmp. 0, or -1 with err; the
 * file is closed either way. */
static int join_strips(const tiler_srv_conf *c, const tiler_job *job, const char *tmp, char *err, size_t errlen)
{
    char path[4096];
    uint32_t k, n = strip_count(job);
    tiler_png_writer *w;
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) { snprintf(err, errlen, "cannot create the result file: %s", strerror(errno)); return -1; }
    w = tiler_png_begin(f, job->width, job->height, job_color(job));
    for (k = 0; w && k < n && rc == 0; k++) {
        tiler_png_strip strip;
        if (tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
            snprintf(err, errlen, "no spool path for strip %u", k);
            rc = -1;
        } else if ((rc = tiler_png_strip_load(path, &strip, err, errlen)) == 0) {
            tiler_png_add(w, &strip);
            tiler_png_strip_free(&strip);
        }
    }
    if (rc == 0) {
        rc = tiler_png_end(w, err, errlen);
    } else {
        char ignored[8];
        tiler_png_end(w, ignored, sizeof(ignored));
    }
    /* Closed whatever happened before: a FILE left open here would keep a
     * deleted file's blocks on a full disk for the child's lifetime. */
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot write the result file: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

void tiler_encode_png_result(server_rec *s, tiler_store *store, const tiler_job *job, apr_pool_t *p)
{
    tiler_srv_conf *c = tiler_srv(s);
    char tmp[4096], result[4096], path[4096], err[512];
    uint32_t k, n = strip_count(job), late = 0;
    apr_time_t t0 = apr_time_now();

    if (tiler_spool_path(tmp, sizeof(tmp), c->spool_dir, job->id, TILER_SPOOL_RESULT_TMP) < 0
        || tiler_spool_path(result, sizeof(result), c->spool_dir, job->id, TILER_SPOOL_RESULT) < 0) {
        fail_png(s, store, job, "no spool path for the result", p);
        return;
    }
    /* Strips whose rows completed last (or before a restart) are made now. */
    for (k = 0; k < n; k++) {
        if (tiler_spool_strip_path(path, sizeof(path), c->spool_dir, job->id, k) < 0) {
            fail_png(s, store, job, apr_psprintf(p, "no spool path for strip %u", k), p);
            return;
        }
        if (access(path, R_OK) == 0) continue;
        if (tiler_encode_strip(c, job, k, err, sizeof(err)) < 0) { fail_png(s, store, job, err, p); return; }
        late++;
    }
    if (join_strips(c, job, tmp, err, sizeof(err)) < 0) { fail_png(s, store, job, err, p); return; }
    if (rename(tmp, result) < 0) {
        fail_png(s, store, job, apr_psprintf(p, "cannot place the result file: %s", strerror(errno)), p);
        return;
    }
    /* The raster, the upload and the strips have served their purpose. */
    tiler_spool_drop_work(c->spool_dir, job->id);
    if (tiler_store_finish(store, job->id, "done", NULL) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(30803) "job %s: cannot mark done: %s", job->id,
                     tiler_store_error(store));
    else if (!tiler_encoder_removed(c, store, job->id, p))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30804) "job %s done: %ux%u, %u tiles, PNG joined from %u strips "
                     "(%u encoded at the end) in %" APR_TIME_T_FMT " ms", job->id, job->width, job->height,
                     job->tiles_total, n, late, apr_time_as_msec(apr_time_now() - t0));
}

/* Each task opens its own store connection: a connection is one thread's. */
static int task_store(tiler_encoder *e, tiler_store **st, apr_pool_t **p)
{
    const char *err;
    if (apr_pool_create_unmanaged_ex(p, NULL, NULL) != APR_SUCCESS) return -1;
    if (tiler_store_open(st, tiler_store_path(*p, e->c), *p, &err) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, e->s, APLOGNO(30805) "result encoder: %s", err);
        apr_pool_destroy(*p);
        return -1;
    }
    return 0;
}

static int active(const tiler_job *job)
{
    return !strcmp(job->state, "queued") || !strcmp(job->state, "running");
}

/* Encodes the job's result now, in this thread, if it is still to do. */
static void finish_now(tiler_encoder *e, const char *id)
{
    tiler_store *st;
    tiler_job job;
    apr_pool_t *p;
    if (task_store(e, &st, &p) < 0) return;
    if (tiler_store_get_job(st, id, &job, p) == 0 && active(&job)) {
        if (!strcmp(job.format, "png")) tiler_encode_png_result(e->s, st, &job, p);
        else tiler_results_finish_job(e->s, st, id, p);
    }
    apr_pool_destroy(p);
}

static void *APR_THREAD_FUNC strip_task(apr_thread_t *t, void *data)
{
    task *k = data;
    tiler_store *st;
    tiler_job job, now;
    apr_pool_t *p;
    char err[512], path[4096];
    int rc;
    (void)t;
    if (task_store(k->e, &st, &p) == 0) {
        if (tiler_store_get_job(st, k->id, &job, p) == 0 && active(&job)) {
            rc = tiler_encode_strip(k->e->c, &job, k->strip, err, sizeof(err));
            /* Look again now that the strip is (or is not) written. */
            if (tiler_store_get_job(st, k->id, &now, p) == 1) {
                /* Removed while the strip was made: tidy, say nothing. */
                tiler_spool_remove(k->e->c->spool_dir, k->id);
            } else if (!active(&now)) {
                /* Ended meanwhile (failed, or finished from its own copy of
                 * this strip): the strip is work nobody will drop again. */
                if (tiler_spool_strip_path(path, sizeof(path), k->e->c->spool_dir, k->id, k->strip) == 0) unlink(path);
            } else if (rc < 0) {
                /* A strip that cannot be written (a full disk) would fail
                 * the finish too: fail now, and free the disk now. */
                fail_png(k->e->s, st, &job, apr_psprintf(p, "strip %u: %s", k->strip, err), p);
            }
        }
        apr_pool_destroy(p);
    }
    free(k);
    return NULL;
}

static void *APR_THREAD_FUNC finish_task(apr_thread_t *t, void *data)
{
    task *k = data;
    tiler_encoder *e = k->e;
    void *key;
    (void)t;
    finish_now(e, k->id);
    apr_thread_mutex_lock(e->lock);
    key = (void *)apr_hash_get(e->finishing, k->id, APR_HASH_KEY_STRING);
    apr_hash_set(e->finishing, k->id, APR_HASH_KEY_STRING, NULL);
    apr_thread_mutex_unlock(e->lock);
    free(key);
    free(k);
    return NULL;
}

static task *new_task(tiler_encoder *e, const char *id, uint32_t strip)
{
    task *k = malloc(sizeof(*k));
    if (!k) return NULL;
    k->e = e;
    apr_cpystrn(k->id, id, sizeof(k->id));
    k->strip = strip;
    return k;
}

void tiler_encoder_tile_counted(tiler_encoder *e, tiler_store *store, const tiler_job *job, uint32_t idx,
                                apr_pool_t *scratch)
{
    uint32_t cols, row, from, to, n;
    task *k;
    if (!e->tp || strcmp(job->format, "png") || job->tiles_done >= job->tiles_total) return;
    cols = (job->width + job->tile_size - 1) / job->tile_size;
    row = idx / cols;
    from = row * cols;
    to = from + cols < job->tiles_total ? from + cols : job->tiles_total;
    if (tiler_store_count_range(store, job->id, from, to, &n, scratch) < 0 || n < to - from) return;
    if ((k = new_task(e, job->id, row)) && apr_thread_pool_push(e->tp, strip_task, k, APR_THREAD_TASK_PRIORITY_NORMAL, e))
        free(k);
}

void tiler_encoder_finish(tiler_encoder *e, const char *id)
{
    task *k;
    char *key;
    if (!e->tp) {
        /* No threads: encode here, as before there were any. */
        finish_now(e, id);
        return;
    }
    apr_thread_mutex_lock(e->lock);
    if (apr_hash_get(e->finishing, id, APR_HASH_KEY_STRING) || !(key = strdup(id)) || !(k = new_task(e, id, 0))) {
        apr_thread_mutex_unlock(e->lock);
        return;
    }
    apr_hash_set(e->finishing, key, APR_HASH_KEY_STRING, key);
    apr_thread_mutex_unlock(e->lock);
    if (apr_thread_pool_push(e->tp, finish_task, k, APR_THREAD_TASK_PRIORITY_NORMAL, e) != APR_SUCCESS) {
        apr_thread_mutex_lock(e->lock);
        apr_hash_set(e->finishing, key, APR_HASH_KEY_STRING, NULL);
        apr_thread_mutex_unlock(e->lock);
        free(key);
        free(k);
    }
}
