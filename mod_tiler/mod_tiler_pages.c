#include "mod_tiler_pages.h"

#include <string.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <http_request.h>
#include <http_main.h>
#include "mod_tiler_respond.h"
#include "mod_tiler_result.h"
#include "mod_tiler_zoom.h"
#include "tiler_defaults.h"
#include "tiler_json.h"
#include "tiler_tiff_out.h"

static const struct { const char *name, *mime; } static_files[] = {
    { "index.html", "text/html; charset=utf-8" },
    { "dashboard.html", "text/html; charset=utf-8" },
    { "style.css", "text/css; charset=utf-8" },
    { "app.js", "text/javascript; charset=utf-8" },
    { "job.js", "text/javascript; charset=utf-8" },
    { "dashboard.js", "text/javascript; charset=utf-8" },
    /* OpenSeadragon, vendored from its npm package (README, The job page) */
    { "openseadragon.min.js", "text/javascript; charset=utf-8" },
    { "openseadragon-LICENSE.txt", "text/plain; charset=utf-8" },
    { NULL, NULL }
};

int tiler_static_file(request_rec *r, const char *name)
{
    tiler_srv_conf *c = tiler_srv(r->server);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t sent;
    const char *path;
    int i;
    if (r->method_number != M_GET) return tiler_method_not_allowed(r, "GET, HEAD");
    for (i = 0; static_files[i].name; i++)
        if (!strcmp(name, static_files[i].name)) break;
    if (!static_files[i].name) return tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "no such page");
    path = apr_pstrcat(r->pool, c->htdocs_dir, "/", static_files[i].name, NULL);
    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_SENDFILE_ENABLED, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME, f) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(30601) "page %s is missing (TilerHtdocsDir %s)", name, c->htdocs_dir);
        return tiler_send_error(r, HTTP_NOT_FOUND, "not_found", "the page is not installed");
    }
    ap_set_content_type(r, static_files[i].mime);
    ap_set_content_length(r, fi.size);
    ap_update_mtime(r, fi.mtime);
    ap_set_last_modified(r);
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if (!r->header_only) ap_send_fd(f, r, 0, (apr_size_t)fi.size, &sent);
    return OK;
}

static const char *state_words(const char *state)
{
    if (!strcmp(state, "queued")) return "Queued: waiting for workers";
    if (!strcmp(state, "running")) return "Running";
    if (!strcmp(state, "done")) return "Done";
    if (!strcmp(state, "failed")) return "Failed";
    return state;
}

int tiler_job_page(request_rec *r, const char *base, const char *id)
{
    tiler_job job;
    char created[64], finished[64];
    int sent, over;
    tiler_zoom_state zoom = TILER_ZOOM_NOT_WANTED;
    const char *b, *eid;
    apr_time_t end;

    if (r->method_number != M_GET) return tiler_method_not_allowed(r, "GET, HEAD");
    if (tiler_find_job(r, id, &job, &sent) < 0) return sent;
    over = !strcmp(job.state, "done") || !strcmp(job.state, "failed");
    b = ap_escape_html(r->pool, base);
    eid = ap_escape_html(r->pool, job.id);
    tiler_rfc3339(created, job.created);
    if (job.finished) tiler_rfc3339(finished, job.finished);
    end = job.finished ? job.finished : apr_time_now();

    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) return OK;
    ap_rprintf(r, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>Job %s · mod_tiler</title>\n<link rel=\"stylesheet\" href=\"%s/static/style.css\">\n"
                  "<link rel=\"icon\" href=\"data:,\">\n", eid, b);
    /* Without JavaScript the page refreshes itself until the job ends. */
    if (!over) ap_rputs("<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>\n", r);
    ap_rprintf(r, "</head>\n<body data-base=\"%s\" data-job=\"%s\" data-state=\"%s\">\n"
                  "<header><a href=\"%s/\">Upload</a> <a href=\"%s/dashboard.html\">Dashboard</a></header>\n"
                  "<main>\n<h1>Job <code>%s</code></h1>\n<dl class=\"job\">\n",
               b, eid, ap_escape_html(r->pool, job.state), b, b, eid);
    ap_rprintf(r, "<dt>State</dt><dd id=\"state\" class=\"state-%s\">%s</dd>\n", ap_escape_html(r->pool, job.state),
               ap_escape_html(r->pool, state_words(job.state)));
    ap_rprintf(r, "<dt>Size</dt><dd>%u × %u pixels</dd>\n", job.width, job.height);
    if (job.src_width != job.width || job.src_height != job.height)
        ap_rprintf(r, "<dt>Uploaded</dt><dd>%u × %u pixels</dd>\n", job.src_width, job.src_height);
    ap_rprintf(r, "<dt>Ops</dt><dd><code>%s</code></dd>\n", ap_escape_html(r->pool, job.ops));
    ap_rprintf(r, "<dt>Output</dt><dd>%s</dd>\n", !strcmp(job.format, "jpeg") ? "JPEG"
               : strcmp(job.format, "tiff") ? "PNG"
               : tiler_tiff_out_codec(job.compression) == TILER_CODEC_TIFF_JPEG ? "TIFF (tiled BigTIFF, JPEG)"
               : "TIFF (tiled BigTIFF, Deflate)");
    ap_rprintf(r, "<dt>Tiles</dt><dd><progress id=\"progress\" max=\"%u\" value=\"%u\"></progress> "
                  "<span id=\"tiles\">%u of %u</span></dd>\n", job.tiles_total, job.tiles_done, job.tiles_done, job.tiles_total);
    ap_rprintf(r, "<dt>Started</dt><dd><time id=\"created\">%s</time></dd>\n", created);
    ap_rprintf(r, "<dt>Finished</dt><dd><time id=\"finished\">%s</time></dd>\n", job.finished ? finished : "not yet");
    ap_rprintf(r, "<dt>Duration</dt><dd id=\"duration\">%.1f s</dd>\n</dl>\n", (double)(end - job.created) / 1e6);
    if (!strcmp(job.state, "failed"))
        ap_rprintf(r, "<p class=\"error\" id=\"error\">The job failed: %s</p>\n",
                   ap_escape_html(r->pool, job.error ? job.error : "no reason was recorded"));
    if (!strcmp(job.state, "done")) {
        ap_rprintf(r, "<p><a class=\"button\" id=\"download\" href=\"%s/api/jobs/%s/result\" download=\"%s.%s\">"
                      "Download the result</a></p>\n", b, eid, eid, tiler_result_extension(&job));
        /* A browser decodes an <img> whole: a gigapixel result would take
         * gigabytes of its memory. Above TilerPreviewAbovePixels the page
         * shows a preview made from the result as a stream instead. */
        if (tiler_result_needs_preview(tiler_srv(r->server), &job)) {
            ap_rprintf(r, "<p id=\"preview-note\">%s: this is a preview of at most "
                          "%d pixels a side. Download the result for every pixel.</p>\n"
                          "<p id=\"preview-box\"><img id=\"result\" src=\"%s/api/jobs/%s/result?thumb=%d\" "
                          "alt=\"A preview of the result\"></p>\n",
                       !strcmp(job.format, "tiff") && (apr_int64_t)job.width * job.height
                       <= tiler_srv(r->server)->preview_above_pixels ? "A browser cannot show a TIFF"
                       : "The result is too large to show here", TILER_PREVIEW_SIDE, b, eid, TILER_PREVIEW_SIDE);
            zoom = tiler_zoom_state_of(tiler_srv(ap_server_conf), &job);
        } else
            ap_rprintf(r, "<p><img id=\"result\" src=\"%s/api/jobs/%s/result\" alt=\"The result\"></p>\n", b, eid);
    }
    /* The zoomable view replaces the preview once job.js has drawn it;
     * without JavaScript, or while the pyramid is built, the preview stays. */
    if (zoom == TILER_ZOOM_READY || zoom == TILER_ZOOM_PENDING)
        ap_rprintf(r, "<div id=\"zoom\" class=\"zoom\" hidden data-dzi=\"%s/api/jobs/%s/zoom.dzi\" data-zoom=\"%s\"></div>\n"
                      "<p id=\"zoom-note\" class=\"hint\" hidden>Scroll or pinch to zoom in to every pixel, drag to move.</p>\n"
                      "<script src=\"%s/static/openseadragon.min.js\" defer></script>\n",
                   b, eid, zoom == TILER_ZOOM_READY ? "ready" : "pending", b);
    ap_rprintf(r, "</main>\n<script src=\"%s/static/job.js\" defer></script>\n</body>\n</html>\n", b);
    return OK;
}
