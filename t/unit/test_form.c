/* What the upload form keeps of each part (tiler_form.c), with the limits
 * the module uses: fields are the text they hold and never more than the
 * field limit, whether sent as text parts or as files; the image streams to
 * its file up to the image limit; every outcome is the same however the
 * body is cut into chunks. scripts/check runs the unit tests a second time
 * in a tree configured with --enable-sanitizers (ASan and UBSan), where an
 * overflow of a field buffer is reported as such; in a plain build the
 * checks on the outcome still fail. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "tmpdir.h"
#include "tiler_form.h"

#define B "formB0undary"
#define FIELD_MAX 64
static const tiler_form_limits lim = { 8, 1024, FIELD_MAX, 1000, 1 << 20 };

/* A part: a name, a filename (NULL for a text part) and len bytes. */
static size_t part(char *out, const char *name, const char *filename, const char *data, size_t len)
{
    size_t n = (size_t)sprintf(out, "--" B "\r\nContent-Disposition: form-data; name=\"%s\"", name);
    if (filename) n += (size_t)sprintf(out + n, "; filename=\"%s\"\r\nContent-Type: text/plain", filename);
    n += (size_t)sprintf(out + n, "\r\n\r\n");
    memcpy(out + n, data, len);
    n += len;
    memcpy(out + n, "\r\n", 2);
    return n + 2;
}

static size_t closing(char *out)
{
    return (size_t)sprintf(out, "--" B "--\r\n");
}

typedef struct {
    tiler_form_status st;
    char error[200], ops[FIELD_MAX + 1], format[FIELD_MAX + 1], compression[FIELD_MAX + 1];
    int has_ops, has_format, has_compression;
    unsigned long long image_bytes;
    long file_bytes, max_file_bytes;   /* the image file after this run; the most of every run */
} outcome;

static long file_size(const char *path);

/* Feeds body in chunks of `step` bytes (0: whole) and records the outcome. */
static void run(const char *body, size_t len, size_t step, outcome *o)
{
    tiler_form *f = tiler_form_new(B, tmpdir_path("image"), &lim);
    size_t at = 0;
    memset(o, 0, sizeof(*o));
    o->st = TILER_FORM_OK;
    if (!step) step = len ? len : 1;
    for (at = 0; at < len && o->st == TILER_FORM_OK; at += step)
        o->st = tiler_form_feed(f, body + at, len - at < step ? len - at : step);
    if (o->st == TILER_FORM_OK) o->st = tiler_form_finish(f);
    snprintf(o->error, sizeof(o->error), "%s", tiler_form_error(f));
    if ((o->has_ops = tiler_form_ops(f) != NULL)) snprintf(o->ops, sizeof(o->ops), "%s", tiler_form_ops(f));
    if ((o->has_format = tiler_form_format(f) != NULL)) snprintf(o->format, sizeof(o->format), "%s", tiler_form_format(f));
    if ((o->has_compression = tiler_form_compression(f) != NULL))
        snprintf(o->compression, sizeof(o->compression), "%s", tiler_form_compression(f));
    o->image_bytes = tiler_form_image_bytes(f);
    tiler_form_free(f);
    o->file_bytes = o->max_file_bytes = file_size(tmpdir_path("image"));
}

static int same(const outcome *a, const outcome *b)
{
    return a->st == b->st && !strcmp(a->error, b->error) && a->has_ops == b->has_ops && !strcmp(a->ops, b->ops)
        && a->has_format == b->has_format && !strcmp(a->format, b->format)
        && a->has_compression == b->has_compression && !strcmp(a->compression, b->compression)
        /* Refused midway, the image holds what came before the chunk that crossed the limit. */
        && (a->st != TILER_FORM_OK || a->image_bytes == b->image_bytes);
}

/* The outcome of the whole body, checked to be the same at every chunk size. */
static outcome check(const char *what, const char *body, size_t len)
{
    outcome whole, o;
    size_t step;
    int all = 1;
    run(body, len, 0, &whole);
    for (step = 1; step <= 70 && step < len; step++) {
        run(body, len, step, &o);
        if (o.file_bytes > whole.max_file_bytes) whole.max_file_bytes = o.file_bytes;
        if (!same(&whole, &o)) {
            if (all) printf("# %s: chunks of %zu give status %d '%s', whole %d '%s'\n", what, step, o.st, o.error, whole.st, whole.error);
            all = 0;
        }
    }
    ok(all, "%s: same outcome in chunks of 1 to 70 bytes", what);
    return whole;
}

static char body[1 << 20];
/* Binary, with a near-delimiter in it. */
static const char image[] = "\x89PNG\r\n\x1a\n\r\n--formB0undar\0x\r\n";

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

int main(void)
{
    static char big[300000];
    outcome o;
    size_t n;

    if (tmpdir_make() < 0) { ok(0, "temporary directory"); return done_testing(); }
    memset(big, 'a', sizeof(big));

    /* A browser's form. */
    n = part(body, "ops", NULL, "grayscale,blur:3", 16);
    n += part(body + n, "format", NULL, "tiff", 4);
    n += part(body + n, "compression", NULL, "jpeg", 4);
    n += part(body + n, "image", "a.png", image, sizeof(image) - 1);
    n += closing(body + n);
    o = check("a browser's form", body, n);
    ok(o.st == TILER_FORM_OK, "a browser's form: accepted (%s)", o.error);
    ok(o.has_ops && !strcmp(o.ops, "grayscale,blur:3") && o.has_format && !strcmp(o.format, "tiff")
       && o.has_compression && !strcmp(o.compression, "jpeg"), "its fields");
    ok(o.image_bytes == sizeof(image) - 1 && file_size(tmpdir_path("image")) == (long)o.image_bytes,
       "its image, byte for byte in the file");

    /* The overflow: a field as a file part, far over the field limit. */
    n = part(body, "ops", "x.txt", big, sizeof(big));
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("ops as a 300 KB file part", body, n);
    ok(o.st == TILER_FORM_BAD && strstr(o.error, "'ops'") && strstr(o.error, "64 bytes"),
       "ops as a 300 KB file part: refused, naming the field (%s)", o.error);
    ok(!o.has_ops, "and no ops kept");

    n = part(body, "image", "a.png", "img", 3);
    n += part(body + n, "format", "f.txt", big, FIELD_MAX + 1);
    n += closing(body + n);
    o = check("format as a file part one byte over", body, n);
    ok(o.st == TILER_FORM_BAD && strstr(o.error, "'format'"), "format one byte over, as a file: refused (%s)", o.error);

    n = part(body, "format", "f.txt", big, FIELD_MAX);
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("format at the limit as a file part", body, n);
    ok(o.st == TILER_FORM_OK && o.has_format && strlen(o.format) == FIELD_MAX, "format of exactly the limit, as a file: kept");

    n = part(body, "ops", NULL, big, FIELD_MAX + 1);
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("ops as a text part one byte over", body, n);
    ok(o.st == TILER_FORM_BAD && strstr(o.error, "'ops'"), "ops one byte over, as text: refused (%s)", o.error);

    /* Fields as small files are the text they hold. */
    n = part(body, "ops", "ops.txt", "invert", 6);
    n += part(body + n, "format", "", "png", 3);
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("fields as small file parts", body, n);
    ok(o.st == TILER_FORM_OK && !strcmp(o.ops, "invert") && !strcmp(o.format, "png"), "fields as small file parts: their text");

    /* Unknown parts are skipped, files of any size included. */
    n = part(body, "junk", "junk.bin", big, sizeof(big));
    n += part(body + n, "notes", NULL, "hello", 5);
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("unknown parts", body, n);
    ok(o.st == TILER_FORM_OK && !o.has_ops && !o.has_format && o.image_bytes == 3, "unknown parts skipped (%s)", o.error);

    /* The image: one, within its limit. */
    n = part(body, "image", "a.png", big, 1000);
    n += closing(body + n);
    o = check("image at its limit", body, n);
    ok(o.st == TILER_FORM_OK && o.image_bytes == 1000 && file_size(tmpdir_path("image")) == 1000, "image of exactly the limit: kept");
    n = part(body, "image", "a.png", big, 1001);
    n += closing(body + n);
    o = check("image over its limit", body, n);
    ok(o.st == TILER_FORM_TOO_LARGE && o.image_bytes <= 1000, "image one byte over: too large (%s)", o.error);
    ok(o.max_file_bytes >= 0 && o.max_file_bytes <= 1000, "and no more than the limit written, at every chunk size (at most %ld)",
       o.max_file_bytes);

    n = part(body, "image", "a.png", "one", 3);
    n += part(body + n, "image", "b.png", "two", 3);
    n += closing(body + n);
    o = check("two images", body, n);
    ok(o.st == TILER_FORM_BAD && strstr(o.error, "more than one"), "a second image part: refused (%s)", o.error);

    n = part(body, "ops", NULL, "invert", 6);
    n += part(body + n, "image", NULL, "not a file", 10);
    n += closing(body + n);
    o = check("image as a text part", body, n);
    ok(o.st == TILER_FORM_NO_IMAGE && strstr(o.error, "'image'"), "an image text part is no image (%s)", o.error);

    n = part(body, "ops", NULL, "invert", 6);
    n += part(body + n, "ops", NULL, "grayscale", 9);
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("ops twice", body, n);
    ok(o.st == TILER_FORM_BAD && strstr(o.error, "twice"), "ops twice: refused (%s)", o.error);

    n = part(body, "ops", "x.txt", "inv\0ert", 7);
    n += part(body + n, "image", "a.png", "img", 3);
    n += closing(body + n);
    o = check("NUL in a field", body, n);
    ok(o.st == TILER_FORM_BAD && strstr(o.error, "NUL"), "a NUL in ops: refused (%s)", o.error);

    n = part(body, "ops", NULL, "invert", 6);
    n += part(body + n, "image", "a.png", "img", 3);
    o = check("no closing boundary", body, n);
    ok(o.st == TILER_FORM_BAD, "no closing boundary: refused (%s)", o.error);

    /* The whole body's limit. */
    {
        tiler_form_limits small = lim;
        tiler_form *f;
        small.max_total_bytes = 100;
        f = tiler_form_new(B, tmpdir_path("image"), &small);
        n = part(body, "junk", "j", big, 200);
        ok(tiler_form_feed(f, body, n) == TILER_FORM_TOO_LARGE, "over the body limit: too large");
        ok(tiler_form_finish(f) == TILER_FORM_TOO_LARGE, "and stays so");
        tiler_form_free(f);
    }
    /* The image file cannot be created. */
    {
        tiler_form *f = tiler_form_new(B, tmpdir_path("no/such/dir/image"), &lim);
        n = part(body, "image", "a.png", "img", 3);
        ok(tiler_form_feed(f, body, n) == TILER_FORM_IO && tiler_form_errno(f) != 0, "an image file that cannot be created: I/O error");
        tiler_form_free(f);
    }
    remove(tmpdir_path("image"));
    rmdir(tmpdir_name);
    return done_testing();
}
