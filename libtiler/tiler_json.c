#include "tiler_json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void tiler_json_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void tiler_json_kv_str(yajl_gen g, const char *key, const char *value)
{
    tiler_json_str(g, key);
    if (value) tiler_json_str(g, value);
    else yajl_gen_null(g);
}

void tiler_json_kv_int(yajl_gen g, const char *key, long long value)
{
    tiler_json_str(g, key);
    yajl_gen_integer(g, value);
}

void tiler_json_kv_double(yajl_gen g, const char *key, double value)
{
    /* yajl prints doubles with %.20g; three decimals say all there is. */
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.3f", value);
    tiler_json_str(g, key);
    yajl_gen_number(g, buf, (size_t)n);
}

void tiler_json_value(yajl_gen g, yajl_val v)
{
    size_t i;
    if (!v || YAJL_IS_NULL(v)) { yajl_gen_null(g); return; }
    if (YAJL_IS_STRING(v)) { tiler_json_str(g, YAJL_GET_STRING(v)); return; }
    if (YAJL_IS_NUMBER(v)) { yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r)); return; }
    if (YAJL_IS_TRUE(v)) { yajl_gen_bool(g, 1); return; }
    if (YAJL_IS_FALSE(v)) { yajl_gen_bool(g, 0); return; }
    if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (i = 0; i < v->u.array.len; i++) tiler_json_value(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
        return;
    }
    yajl_gen_map_open(g);
    for (i = 0; i < v->u.object.len; i++) {
        tiler_json_str(g, v->u.object.keys[i]);
        tiler_json_value(g, v->u.object.values[i]);
    }
    yajl_gen_map_close(g);
}

void tiler_rfc3339(char buf[64], int64_t usec)
{
    time_t secs = (time_t)(usec / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(usec / 1000 % 1000));
}

void tiler_json_job(yajl_gen g, const tiler_job *j, const char *base)
{
    char ts[64], url[512];
    yajl_gen_map_open(g);
    tiler_json_kv_str(g, "id", j->id);
    tiler_json_kv_str(g, "state", j->state);
    tiler_json_kv_int(g, "width", j->width);
    tiler_json_kv_int(g, "height", j->height);
    tiler_json_kv_int(g, "upload_width", j->src_width ? j->src_width : j->width);
    tiler_json_kv_int(g, "upload_height", j->src_height ? j->src_height : j->height);
    tiler_json_kv_str(g, "ops", j->ops);
    tiler_json_kv_str(g, "format", j->format);
    /* Only a TIFF result has a choice of compression. */
    if (j->format && !strcmp(j->format, "tiff"))
        tiler_json_kv_str(g, "compression", j->compression ? j->compression : "deflate");
    tiler_json_kv_int(g, "tile_size", j->tile_size);
    tiler_json_kv_int(g, "tiles_total", j->tiles_total);
    tiler_json_kv_int(g, "tiles_done", j->tiles_done);
    tiler_json_kv_int(g, "resends", j->resends);
    tiler_json_str(g, "stuck");
    yajl_gen_bool(g, j->stuck);
    tiler_rfc3339(ts, j->created);
    tiler_json_kv_str(g, "created", ts);
    if (j->finished) tiler_rfc3339(ts, j->finished);
    tiler_json_kv_str(g, "finished", j->finished ? ts : NULL);
    if (j->error) tiler_json_kv_str(g, "error", j->error);
    snprintf(url, sizeof(url), "%s/api/jobs/%s", base, j->id);
    tiler_json_kv_str(g, "status_url", url);
    snprintf(url, sizeof(url), "%s/api/jobs/%s/result", base, j->id);
    tiler_json_kv_str(g, "result_url", url);
    snprintf(url, sizeof(url), "%s/api/jobs/%s/zoom.dzi", base, j->id);
    tiler_json_kv_str(g, "zoom_url", j->zoom ? url : NULL);
    yajl_gen_map_close(g);
}
