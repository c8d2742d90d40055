/* A test's own temporary directory and paths in it. Call tmpdir_make()
 * first; tmpdir_path() keeps its last four answers valid. */
#ifndef TMPDIR_H
#define TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char tmpdir_name[] = "/tmp/tiler-unit-XXXXXX";

static int tmpdir_make(void) __attribute__((unused));
static int tmpdir_make(void)
{
    return mkdtemp(tmpdir_name) ? 0 : -1;
}

static const char *tmpdir_path(const char *leaf) __attribute__((unused));
static const char *tmpdir_path(const char *leaf)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir_name, leaf);
    return buf[k];
}

#endif
