/* The multipart parser on valid and invalid bodies, each fed whole, split
 * at every byte position, byte by byte, and in random chunks: the outcome
 * must never depend on where the chunks break. */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "tiler_multipart.h"

typedef struct {
    char log[8192];   /* "name|filename|ctype=data;" per part */
    size_t n;
    int open;
} collect;

static void add(collect *c, const char *s, size_t len)
{
    if (c->n + len < sizeof(c->log)) { memcpy(c->log + c->n, s, len); c->n += len; c->log[c->n] = '\0'; }
}

static int on_begin(void *ctx, const char *name, const char *filename, const char *ctype)
{
    collect *c = ctx;
    add(c, name, strlen(name)); add(c, "|", 1);
    if (filename) add(c, filename, strlen(filename)); else add(c, "-", 1);
    add(c, "|", 1);
    if (ctype) add(c, ctype, strlen(ctype));
    add(c, "=", 1);
    c->open = 1;
    return 0;
}
static int on_data(void *ctx, const char *d, size_t len) { add(ctx, d, len); return 0; }
static int on_end(void *ctx) { collect *c = ctx; add(c, ";", 1); c->open = 0; return 0; }

static const tiler_mp_callbacks cbs = { on_begin, on_data, on_end };
static const tiler_mp_limits lim = { 8, 1024, 64, 1 << 20 };

/* Runs body through the parser in the given chunks; returns the status and the log. */
static tiler_mp_status run(const char *boundary, const char *body, size_t len, const size_t *cuts, int ncuts,
                           collect *c, const tiler_mp_limits *l)
{
    tiler_multipart *mp = tiler_mp_new(boundary, l ? l : &lim, &cbs, c);
    size_t at = 0;
    int i;
    tiler_mp_status st = TILER_MP_OK;
    memset(c, 0, sizeof(*c));
    for (i = 0; i <= ncuts && st == TILER_MP_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        st = tiler_mp_feed(mp, body + at, end - at);
        at = end;
    }
    if (st == TILER_MP_OK) st = tiler_mp_finish(mp);
    tiler_mp_free(mp);
    return st;
}

typedef struct {
    const char *what, *boundary, *body;
    tiler_mp_status want;
    const char *want_log;   /* for valid bodies */
} sample;

#define B "XyZ-b0undary"
static const sample samples[] = {
    { "file and fields", B,
      "--" B "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
      "\x89PNG\r\n\x1a\n-data-\r\n\r\n--\r\n--X\r\n--XyZ-b0undar\r\r\n-\r\n--XyZ-b0undarx\r\n--" B
      "\r\nContent-Disposition: form-data; name=\"ops\"\r\n\r\ngrayscale,blur:3\r\n--" B
      "\r\ncontent-disposition: form-data; name=format\r\n\r\njpeg\r\n--" B "--\r\n",
      TILER_MP_OK,
      "image|a.png|image/png=\x89PNG\r\n\x1a\n-data-\r\n\r\n--\r\n--X\r\n--XyZ-b0undar\r\r\n-\r\n--XyZ-b0undarx;"
      "ops|-|=grayscale,blur:3;format|-|=jpeg;" },
    { "preamble, epilogue, empty parts", B,
      "preamble\r\n--" B " \t\r\nContent-Disposition: form-data; name=\"a\"; filename=\"\"\r\n\r\n\r\n--" B
      "\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n\r\n--" B "--epilogue\r\n--" B "\r\nignored",
      TILER_MP_OK, "a||=;b|-|=;" },
    { "CRs and dashes right before the delimiter", "ab",
      "--ab\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n\r\r\r\n\r\n-\r\n--a\r\r\n--ab--",
      TILER_MP_OK, "f|x|=\r\r\r\n\r\n-\r\n--a\r;" },
    /* Content-Disposition parameters: quoted values may hold ';', '=' and
     * escaped quotes; a parameter name inside a value is not one. */
    { "';' and 'name=' inside a quoted filename", B,
      "--" B "\r\nContent-Disposition: form-data; filename=\"x;name=ops;\"; name=\"image\"\r\n\r\nimg\r\n--" B "--",
      TILER_MP_OK, "image|x;name=ops;|=img;" },
    { "backslash escapes in quoted values", B,
      "--" B "\r\nContent-Disposition: form-data;name=\"a\\\"b\" ; filename=\"c\\\\d;\"\r\n\r\nv\r\n--" B "--",
      TILER_MP_OK, "a\"b|c\\d;|=v;" },
    { "filename* marks a file part (RFC 7578, 5987)", B,
      "--" B "\r\nContent-Disposition: form-data; name=\"image\"; filename*=UTF-8''na%C3%AFve.png\r\n\r\nimg\r\n--" B "--",
      TILER_MP_OK, "image|na\xc3\xafve.png|=img;" },
    { "filename* wins over filename", B,
      "--" B "\r\nContent-Disposition: form-data; name=image; filename*=utf-8'en'%41.png; filename=\"b.png\"\r\n\r\nimg\r\n--" B "--",
      TILER_MP_OK, "image|A.png|=img;" },
    { "name given twice", B,
      "--" B "\r\nContent-Disposition: form-data; name=\"ops\"; name=\"image\"\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "filename* badly encoded", B,
      "--" B "\r\nContent-Disposition: form-data; name=image; filename*=UTF-8''a%zz\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "garbage after a parameter", B,
      "--" B "\r\nContent-Disposition: form-data; name=\"a\"junk\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "unterminated", B, "--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc", TILER_MP_ERR_SYNTAX, NULL },
    { "wrong boundary", B, "--other\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--other--", TILER_MP_ERR_SYNTAX, NULL },
    { "empty body", B, "", TILER_MP_ERR_SYNTAX, NULL },
    { "garbage after a boundary", B, "--" B "junk\r\n\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "header line without colon", B, "--" B "\r\nContent-Disposition form-data\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "no Content-Disposition", B, "--" B "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "not form-data", B, "--" B "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "unterminated quote", B, "--" B "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--" B "--", TILER_MP_ERR_SYNTAX, NULL },
    { "single dash after boundary", B, "--" B "-\r\n", TILER_MP_ERR_SYNTAX, NULL },
    { "field over the field limit", B,
      "--" B "\r\nContent-Disposition: form-data; name=\"ops\"\r\n\r\n"
      "0123456789012345678901234567890123456789012345678901234567890123456789\r\n--" B "--", TILER_MP_ERR_LIMIT, NULL },
    { "too many parts", "b",
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
      "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--", TILER_MP_ERR_LIMIT, NULL },
};

int main(void)
{
    size_t s;
    collect c;
    char boundary[80];

    for (s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
        const sample *x = &samples[s];
        size_t len = strlen(x->body), k, cuts[64];
        int all = 1, r;
        tiler_mp_status st = run(x->boundary, x->body, len, NULL, 0, &c, NULL);
        ok(st == x->want, "%s: whole body gives status %d (got %d)", x->what, x->want, st);
        if (x->want_log) ok(!strcmp(c.log, x->want_log), "%s: parts and data exact", x->what);
        /* Split at every position. */
        for (k = 0; k <= len; k++) {
            cuts[0] = k;
            st = run(x->boundary, x->body, len, cuts, 1, &c, NULL);
            if (st != x->want || (x->want_log && strcmp(c.log, x->want_log))) {
                if (all) printf("# %s: split at %zu differs: status %d log '%s'\n", x->what, k, st, c.log);
                all = 0;
            }
        }
        ok(all, "%s: same outcome split at each of %zu positions", x->what, len + 1);
        /* Byte by byte. */
        {
            size_t *every = malloc(sizeof(size_t) * (len + 1));
            for (k = 0; k < len; k++) every[k] = k + 1;
            st = run(x->boundary, x->body, len, every, len ? (int)len - 1 : 0, &c, NULL);
            ok(st == x->want && (!x->want_log || !strcmp(c.log, x->want_log)), "%s: byte by byte", x->what);
            free(every);
        }
        /* Random chunkings. */
        srand(1234 + (unsigned)s);
        all = 1;
        for (r = 0; r < 300; r++) {
            int n = 0;
            size_t at = 0;
            while (n < 63 && len) {
                at += 1 + (size_t)rand() % 9;
                if (at >= len) break;
                cuts[n++] = at;
            }
            st = run(x->boundary, x->body, len, cuts, n, &c, NULL);
            if (st != x->want || (x->want_log && strcmp(c.log, x->want_log))) all = 0;
        }
        ok(all, "%s: same outcome in 300 random chunkings", x->what);
    }

    /* Total size and header size limits. */
    {
        tiler_mp_limits small = { 8, 1024, 64, 100 };
        const char *body = samples[0].body;
        ok(run(B, body, strlen(body), NULL, 0, &c, &small) == TILER_MP_ERR_TOO_LARGE, "over the total limit: too large");
        small.max_total_bytes = 1 << 20;
        small.max_header_bytes = 20;
        ok(run(B, body, strlen(body), NULL, 0, &c, &small) == TILER_MP_ERR_LIMIT, "over the header limit");
    }

    /* Boundary parameters. */
    ok(tiler_mp_boundary("multipart/form-data; boundary=abc", boundary, sizeof(boundary)) == 0 && !strcmp(boundary, "abc"), "boundary");
    ok(tiler_mp_boundary("multipart/form-data; charset=x; boundary=\"a b:c\"", boundary, sizeof(boundary)) == 0
       && !strcmp(boundary, "a b:c"), "quoted boundary");
    ok(tiler_mp_boundary("Multipart/Form-Data;boundary=----WebKitFormBoundary7MA4YWxk", boundary, sizeof(boundary)) == 0,
       "browser style, case-insensitive");
    ok(tiler_mp_boundary("multipart/form-data", boundary, sizeof(boundary)) < 0, "no boundary refused");
    ok(tiler_mp_boundary("multipart/form-data; boundary=", boundary, sizeof(boundary)) < 0, "empty boundary refused");
    ok(tiler_mp_boundary("multipart/form-data; boundary=\"abc", boundary, sizeof(boundary)) < 0, "unterminated quote refused");
    ok(tiler_mp_boundary("multipart/form-data; boundary=a\x01" "b", boundary, sizeof(boundary)) < 0, "control byte refused");
    ok(tiler_mp_boundary("multipart/form-data; boundary="
                         "01234567890123456789012345678901234567890123456789012345678901234567890", boundary, sizeof(boundary)) < 0,
       "71 characters refused");
    ok(tiler_mp_boundary("multipart/mixed; boundary=abc", boundary, sizeof(boundary)) < 0, "not form-data refused");
    ok(tiler_mp_boundary("multipart/form-data; x=\"y; boundary=evil\"; boundary=good", boundary, sizeof(boundary)) == 0
       && !strcmp(boundary, "good"), "a boundary= inside another quoted parameter is not the boundary (%s)", boundary);
    return done_testing();
}
