#include "tiler_jpeg_err.h"

static void on_error(j_common_ptr c)
{
    tiler_jpeg_err *e = (tiler_jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->back, 1);
}

static void on_message(j_common_ptr c, int level)
{
    (void)c;
    (void)level;
}

struct jpeg_error_mgr *tiler_jpeg_err_init(tiler_jpeg_err *e)
{
    struct jpeg_error_mgr *m = jpeg_std_error(&e->pub);
    m->error_exit = on_error;
    m->emit_message = on_message;
    return m;
}
