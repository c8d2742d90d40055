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

/* A whole file into memory (*size 0 when it cannot be read whole), and
 * bytes out to a file: for tests that cut and splice image files. */
static char *slurp(const char *p, long *size) __attribute__((unused));
static char *slurp(const char *p, long *size)
{
    FILE *f = fopen(p, "rb");
    char *buf;
    *size = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    rewind(f);
    buf = malloc((size_t)*size + 1);
    if (!buf || fread(buf, 1, (size_t)*size, f) != (size_t)*size) *size = 0;
    fclose(f);
    return buf;
}

static void spew(const char *p, const char *data, size_t len) __attribute__((unused));
static void spew(const char *p, const char *data, size_t len)
{
    FILE *f = fopen(p, "wb");
    if (!f) return;
    if (fwrite(data, 1, len, f) != len) perror(p);
    fclose(f);
}

#endif
