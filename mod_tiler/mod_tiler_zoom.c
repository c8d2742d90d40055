#include "mod_tiler_zoom.h"

#include <unistd.h>
#include <apr_strings.h>
#include <http_main.h>
#include <http_protocol.h>
#include "mod_tiler_respond.h"
#include "mod_tiler_result.h"
#include "tiler_spool.h"

int tiler_zoom_will_want(const tiler_srv_conf *c, const tiler_job *job)
{
    return c->zoom && (apr_int64_t)job->width * job->height > c->preview_above_pixels;
}

int tiler_zoom_wanted(const tiler_srv_conf *c, const tiler_job *job)
{
    return !strcmp(job->state, "done") && tiler_zoom_will_want(c, job);
}

tiler_zoom_state tiler_zoom_state_of(const tiler_srv_conf *c, const tiler_job *job)
{
    char path[4096];
    if (!tiler_zoom_wanted(c, job)) return TILER_ZOOM_NOT_WANTED;
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, job->id, TILER_SPOOL_ZOOM_DZI) == 0 && access(path, F_OK) == 0)
        return TILER_ZOOM_READY;
    if (tiler_spool_path(path, sizeof(path), c->spool_dir, job->id, TILER_SPOOL_ZOOM_FAILED) == 0 && access(path, F_OK) == 0)
        return TILER_ZOOM_FAILED;
    return TILER_ZOOM_PENDING;
}

/* The main server's settings: the results consumer builds with those. */
static const tiler_srv_conf *builder_conf(void)
{
    return tiler_srv(ap_server_conf);
}

void tiler_zoom_mark(request_rec *r, tiler_job *job)
{
    (void)r;
    job->zoom = tiler_zoom_state_of(builder_conf(), job) == TILER_ZOOM_READY;
}

int tiler_zoom_serve(request_rec *r, const char *id, tiler_zoom_kind kind, const tiler_zoom_tile *t)
{
    const tiler_srv_conf *c = builder_conf();
    tiler_job job;
    char path[4096];
    int sent;
    if (r->method_number != M_GET) return tiler_method_not_allowed(r, "GET, HEAD");
    if (kind == TILER_ZOOM_BAD)
        return tiler_send_error(r, HTTP_BAD_REQUEST, "bad_zoom_path",
                                "a zoom tile is zoom_files/LEVEL/COL_ROW.png, in plain decimal numbers");
    if (tiler_find_job(r, id, &job, &sent) < 0) return sent;
    if (strcmp(job.state, "done"))
        return tiler_send_error(r, HTTP_CONFLICT, "not_done", apr_psprintf(r->pool, "job is %s", job.state));
    switch (tiler_zoom_state_of(c, &job)) {
    case TILER_ZOOM_NOT_WANTED:
        return tiler_send_error(r, HTTP_NOT_FOUND, "no_zoom", c->zoom
                                ? "the result is small enough to be shown whole: it has no zoomable view"
                                : "zoomable views are off on this server (TilerZoom Off)");
    case TILER_ZOOM_FAILED:
        return tiler_send_error(r, HTTP_NOT_FOUND, "no_zoom",
                                "the zoomable view could not be built (the server's error log says why)");
    case TILER_ZOOM_PENDING:
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return tiler_send_error(r, HTTP_CONFLICT, "zoom_not_ready", "the zoomable view is being built; try again shortly");
    case TILER_ZOOM_READY:
        break;
    }
    if (kind == TILER_ZOOM_DZI) {
        if (tiler_spool_path(path, sizeof(path), c->spool_dir, job.id, TILER_SPOOL_ZOOM_DZI) < 0)
            return tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such job");
        return tiler_send_spool_file(r, path, "application/xml", NULL);
    }
    if (!tiler_zoom_tile_exists(t, job.width, job.height))
        return tiler_send_error(r, HTTP_NOT_FOUND, "no_tile",
                                apr_psprintf(r->pool, "level %u has no tile %u_%u", t->level, t->col, t->row));
    if (tiler_spool_zoom_tile_path(path, sizeof(path), c->spool_dir, job.id, t->level, t->col, t->row) < 0)
        return tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such job");
    /* A tile never changes while its job lives. */
    apr_table_setn(r->headers_out, "Cache-Control", "max-age=86400");
    return tiler_send_spool_file(r, path, "image/png", NULL);
}
