/* The web pages: static files from TilerHtdocsDir (a fixed list of names;
 * no request text ever becomes a path) and the server-rendered job page,
 * which works without JavaScript. */
#ifndef MOD_TILER_PAGES_H
#define MOD_TILER_PAGES_H

#include "mod_tiler.h"

int tiler_static_file(request_rec *r, const char *name);
int tiler_job_page(request_rec *r, const char *base, const char *id);

#endif
