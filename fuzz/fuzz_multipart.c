/* libFuzzer target: an upload form through the parser (tiler_multipart.c)
 * and the code that stores each part (tiler_form.c, the module's own), with
 * small limits so that going over them is easy to find: a field kept past
 * its buffer, an image written past its limit. Each body is fed whole and
 * in chunks whose sizes come from the input's first two bytes: the parser
 * must call back with the same parts and byte-identical data, and the form
 * end the same way, however the body is cut (a byte lost or doubled at a
 * chunk border shows as a difference). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_form.h"
#include "tiler_multipart.h"

#define BOUNDARY "b0undary"

/* What the parser's callbacks saw, unambiguously: B name NUL filename-or-
 * "\1" NUL ctype-or-"\1" NUL, then each run of data as D, an 8-byte length
 * and the bytes (however many calls brought them), E at each part's end. */
typedef struct {
    unsigned char *p;
    size_t n, cap, run_at;   /* run_at: where the open data run's length is; 0: none */
} transcript;

static void put(transcript *t, const void *d, size_t n)
{
    if (t->n + n > t->cap) {
        size_t cap = (t->n + n) * 2 + 64;
        unsigned char *p = realloc(t->p, cap);
        if (!p) __builtin_trap();
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, d, n);
    t->n += n;
}

static void put_str(transcript *t, const char *s)
{
    put(t, s ? s : "\1", strlen(s ? s : "\1") + 1);
}

static int on_begin(void *ctx, const char *name, const char *filename, const char *ctype)
{
    transcript *t = ctx;
    t->run_at = 0;
    put(t, "B", 1);
    put_str(t, name);
    put_str(t, filename);
    put_str(t, ctype);
    return 0;
}

static int on_data(void *ctx, const char *d, size_t len)
{
    transcript *t = ctx;
    uint64_t run;
    if (!t->run_at) {
        uint64_t zero = 0;
        put(t, "D", 1);
        t->run_at = t->n;
        put(t, &zero, sizeof(zero));
    }
    put(t, d, len);
    memcpy(&run, t->p + t->run_at, sizeof(run));
    run += len;
    memcpy(t->p + t->run_at, &run, sizeof(run));
    return 0;
}

static int on_end(void *ctx)
{
    transcript *t = ctx;
    t->run_at = 0;
    put(t, "E", 1);
    return 0;
}

/* Chunk sizes: 1 to 1 + seed[1] % 97 bytes, drawn from the seed. */
static size_t next_step(uint32_t *state, const uint8_t *seed)
{
    *state = *state * 1664525u + 1013904223u;
    return 1 + (*state >> 16) % (1 + seed[1] % 97u);
}

static tiler_mp_status parse(const uint8_t *body, size_t len, const uint8_t *seed, transcript *t)
{
    static const tiler_mp_limits lim = { 16, 1024, 256, 1 << 20 };
    static const tiler_mp_callbacks cb = { on_begin, on_data, on_end };
    tiler_multipart *mp = tiler_mp_new(BOUNDARY, &lim, &cb, t);
    tiler_mp_status st = TILER_MP_OK;
    uint32_t state = seed ? seed[0] : 0;
    size_t at = 0;
    if (!mp) __builtin_trap();
    while (at < len && st == TILER_MP_OK) {
        size_t step = seed ? next_step(&state, seed) : len;
        if (step > len - at) step = len - at;
        st = tiler_mp_feed(mp, (const char *)body + at, step);
        at += step;
    }
    if (st == TILER_MP_OK) st = tiler_mp_finish(mp);
    tiler_mp_free(mp);
    return st;
}

typedef struct {
    tiler_form_status st;
    char error[200];
    const char *ops, *format;   /* valid until the form is freed */
    uint64_t image_bytes;
} outcome;

static tiler_form *store(const uint8_t *body, size_t len, const uint8_t *seed, outcome *o)
{
    static const tiler_form_limits lim = { 16, 1024, 256, 4096, 1 << 20 };
    tiler_form *f = tiler_form_new(BOUNDARY, "/dev/null", &lim);
    uint32_t state = seed ? seed[0] : 0;
    size_t at = 0;
    if (!f) __builtin_trap();
    o->st = TILER_FORM_OK;
    while (at < len && o->st == TILER_FORM_OK) {
        size_t step = seed ? next_step(&state, seed) : len;
        if (step > len - at) step = len - at;
        o->st = tiler_form_feed(f, (const char *)body + at, step);
        at += step;
    }
    if (o->st == TILER_FORM_OK) o->st = tiler_form_finish(f);
    strncpy(o->error, tiler_form_error(f), sizeof(o->error) - 1);
    o->error[sizeof(o->error) - 1] = '\0';
    o->ops = tiler_form_ops(f);
    o->format = tiler_form_format(f);
    o->image_bytes = tiler_form_image_bytes(f);
    /* What the module reads back must be within bounds and NUL-terminated. */
    if (o->st == TILER_FORM_OK
        && ((o->ops && strlen(o->ops) > lim.max_field_bytes) || (o->format && strlen(o->format) > lim.max_field_bytes)
            || o->image_bytes > lim.max_image_bytes))
        __builtin_trap();
    return f;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    transcript whole = { 0 }, cut = { 0 };
    tiler_mp_status a, b;
    outcome ow, oc;
    tiler_form *fw, *fc;
    if (len < 2) return 0;
    a = parse(buf + 2, len - 2, NULL, &whole);
    b = parse(buf + 2, len - 2, buf, &cut);
    /* Refused midway, each way saw the data before the refusal in its own
     * pieces; the verdict is the same all the same. */
    if (a != b || (a == TILER_MP_OK && (whole.n != cut.n || (whole.n && memcmp(whole.p, cut.p, whole.n)))))
        __builtin_trap();
    free(whole.p);
    free(cut.p);
    fw = store(buf + 2, len - 2, NULL, &ow);
    fc = store(buf + 2, len - 2, buf, &oc);
    if (ow.st != oc.st || strcmp(ow.error, oc.error) || !same_str(ow.ops, oc.ops) || !same_str(ow.format, oc.format)
        || (ow.st == TILER_FORM_OK && ow.image_bytes != oc.image_bytes))
        __builtin_trap();
    tiler_form_free(fw);
    tiler_form_free(fc);
    return 0;
}
