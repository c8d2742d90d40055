#include "worker_local.h"

#include <stdio.h>
#include "tiler_filter.h"
#include "tiler_image.h"
#include "tiler_ops.h"

int worker_local_run(const worker_options *o)
{
    tiler_chain chain;
    tiler_format in_fmt, out_fmt;
    uint32_t w, h;
    gdImagePtr im;
    char err[512];
    FILE *f;

    if (tiler_chain_parse(&chain, o->ops, TILER_MAX_OPS, err, sizeof(err)) < 0) {
        fprintf(stderr, "tiler-worker: --ops: %s\n", err);
        return WORKER_EXIT_INPUT;
    }
    if ((out_fmt = tiler_output_format_parse(o->format)) == TILER_FMT_UNKNOWN) {
        fprintf(stderr, "tiler-worker: --format must be png or jpeg\n");
        return WORKER_EXIT_USAGE;
    }
    if (!(f = fopen(o->local_in, "rb"))) {
        fprintf(stderr, "tiler-worker: cannot open %s\n", o->local_in);
        return WORKER_EXIT_INPUT;
    }
    if (tiler_probe_file(f, &in_fmt, &w, &h, err, sizeof(err)) < 0) {
        fclose(f);
        fprintf(stderr, "tiler-worker: %s: %s\n", o->local_in, err);
        return WORKER_EXIT_INPUT;
    }
    fclose(f);
    if ((unsigned long long)w * h > (unsigned long long)o->max_pixels) {
        fprintf(stderr, "tiler-worker: %s: %ux%u is more pixels than this build handles\n", o->local_in, w, h);
        return WORKER_EXIT_INPUT;
    }
    if (!(im = tiler_image_load(o->local_in, in_fmt, err, sizeof(err)))) {
        fprintf(stderr, "tiler-worker: %s: %s\n", o->local_in, err);
        return WORKER_EXIT_INPUT;
    }
    if (tiler_filter_apply(im, &chain) < 0) {
        gdImageDestroy(im);
        fprintf(stderr, "tiler-worker: out of memory applying %s\n", o->ops);
        return WORKER_EXIT_RUNTIME;
    }
    if (tiler_image_save(im, o->local_out, out_fmt, err, sizeof(err)) < 0) {
        gdImageDestroy(im);
        fprintf(stderr, "tiler-worker: %s: %s\n", o->local_out, err);
        return WORKER_EXIT_OUTPUT;
    }
    gdImageDestroy(im);
    return WORKER_EXIT_OK;
}
