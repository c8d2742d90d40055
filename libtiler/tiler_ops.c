#include "tiler_ops.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tiler_blur_radius(double sigma)
{
    return (int)ceil(3.0 * sigma);
}

/* Strict decimal: an optional '-' (when allowed), digits with at most one
 * '.' and at most 6 decimals; no '+', exponent, hex, inf or nan. Six
 * decimals keep the canonical form (which the workers parse again) exactly
 * the number the module used. */
/* Why a parameter is not a number, or NULL when it is one (*out, and
 * *micro exactly in millionths). */
static const char *parse_decimal(const char *s, size_t n, int negative_ok, double *out, int64_t *micro)
{
    char buf[32];
    size_t i = 0;
    int dots = 0, digits = 0, decimals = 0, negative = 0;
    int64_t whole = 0, frac = 0;
    if (n == 0) return "empty";
    if (n >= sizeof(buf)) return "too long";
    if (s[0] == '-') {
        if (!negative_ok) return "negative";
        negative = 1;
        i = 1;
    }
    for (; i < n; i++) {
        if (s[i] == '.') { if (++dots > 1) return "not a decimal number"; }
        else if (s[i] >= '0' && s[i] <= '9') {
            digits++;
            if (dots) { decimals++; if (decimals <= TILER_SIGMA_DECIMALS) frac = frac * 10 + (s[i] - '0'); }
            /* Past 10^11 the number is out of every range anyway (the
             * range check says so from the double); stopping there keeps
             * whole * 10^6 within int64. */
            else if (whole < INT64_C(100000000000)) whole = whole * 10 + (s[i] - '0');
        }
        else return "not a decimal number";
    }
    if (decimals > TILER_SIGMA_DECIMALS) return "more than 6 decimals";
    if (!digits) return "not a decimal number";
    for (; decimals < TILER_SIGMA_DECIMALS; decimals++) frac *= 10;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *out = strtod(buf, NULL);
    /* Out of every range by far when whole stopped growing: the range check
     * says so, with the client's text. */
    *micro = (whole * 1000000 + frac) * (negative ? -1 : 1);
    return errno ? "out of range" : NULL;
}

/* What each op is called, what it takes, and the range of each parameter. */
typedef struct {
    const char *name;
    tiler_op_kind kind;
    int nparams;           /* 0, 1 or 2 */
    int required;          /* parameters that must be given */
    const char *usage;     /* for messages */
    struct { double lo, hi, dflt; int lo_open, integer, negative; } p[2];
} op_spec;

static const op_spec specs[] = {
    { "grayscale", TILER_OP_GRAYSCALE, 0, 0, "grayscale", { { 0, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 } } },
    { "invert", TILER_OP_INVERT, 0, 0, "invert", { { 0, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 } } },
    { "blur", TILER_OP_BLUR, 1, 0, "blur[:SIGMA]", { { 0, TILER_MAX_SIGMA, TILER_DEFAULT_SIGMA, 1, 0, 0 } } },
    { "sharpen", TILER_OP_SHARPEN, 2, 0, "sharpen[:SIGMA[:AMOUNT]]",
      { { 0, TILER_MAX_SHARPEN_SIGMA, TILER_DEFAULT_SHARPEN_SIGMA, 1, 0, 0 },
        { 0, TILER_MAX_SHARPEN_AMOUNT, TILER_DEFAULT_SHARPEN_AMOUNT, 1, 0, 0 } } },
    { "edges", TILER_OP_EDGES, 0, 0, "edges", { { 0, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 } } },
    { "brightness", TILER_OP_BRIGHTNESS, 1, 1, "brightness:DELTA", { { -255, 255, 0, 0, 1, 1 } } },
    { "contrast", TILER_OP_CONTRAST, 1, 1, "contrast:FACTOR", { { 0, TILER_MAX_CONTRAST, 0, 0, 0, 0 } } },
    { "gamma", TILER_OP_GAMMA, 1, 1, "gamma:G", { { TILER_MIN_GAMMA, TILER_MAX_GAMMA, 0, 0, 0, 0 } } },
    { "threshold", TILER_OP_THRESHOLD, 1, 1, "threshold:T", { { 0, 255, 0, 0, 1, 0 } } },
    /* flip's parameter is a letter (parse_item), the other two are one of a few numbers. */
    { "flip", TILER_OP_FLIP, 1, 1, "flip:h|v", { { 0, 0, 0, 0, 0, 0 } } },
    { "rotate", TILER_OP_ROTATE, 1, 1, "rotate:90|180|270", { { 90, 270, 0, 0, 1, 0 } } },
    { "downscale", TILER_OP_DOWNSCALE, 1, 1, "downscale:2|4|8", { { 2, 8, 0, 0, 1, 0 } } },
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static const char *known_list(void)
{
    return "grayscale, invert, blur[:SIGMA], sharpen[:SIGMA[:AMOUNT]], edges, brightness:DELTA, contrast:FACTOR, "
           "gamma:G, threshold:T, flip:h|v, rotate:90|180|270, downscale:2|4|8";
}

/* Only safe characters of a client's text go into a message. */
static void shown(char *out, size_t outlen, const char *s, size_t n)
{
    size_t i, k = 0;
    for (i = 0; i < n && k < outlen - 1; i++)
        out[k++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
    out[k] = '\0';
}

static int parse_item(tiler_op *op, const char *s, size_t n, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n, i;
    const op_spec *sp = NULL;
    const char *v = colon ? colon + 1 : NULL;
    double vals[2];
    int64_t micros[2] = { 0, 0 };
    int given = 0, k;
    char text[33];
    const char *why;

    for (i = 0; i < NSPECS; i++)
        if (strlen(specs[i].name) == name_len && !memcmp(s, specs[i].name, name_len)) sp = &specs[i];
    if (!sp) {
        shown(text, sizeof(text), s, name_len);
        snprintf(err, errlen, "unknown op '%s' (known: %s)", text, known_list());
        return -1;
    }
    if (sp->kind == TILER_OP_FLIP) {
        if (!v || (s + n - v) != 1 || (*v != 'h' && *v != 'v')) {
            shown(text, sizeof(text), v ? v : "", v ? (size_t)(s + n - v) > 20 ? 20 : (size_t)(s + n - v) : 0);
            snprintf(err, errlen, v ? "flip:h|v: '%s' is not h or v" : "op 'flip' needs its parameter: flip:h|v", text);
            return -1;
        }
        memset(op, 0, sizeof(*op));
        op->kind = TILER_OP_FLIP;
        op->value = *v == 'h' ? TILER_FLIP_H : TILER_FLIP_V;
        op->micro = (int64_t)op->value * 1000000;
        return 0;
    }
    /* Its parameters, colon-separated. */
    while (v) {
        const char *e = memchr(v, ':', (size_t)(s + n - v));
        size_t vn = e ? (size_t)(e - v) : (size_t)(s + n - v);
        if (given >= sp->nparams) {
            snprintf(err, errlen, sp->nparams ? "op '%s' takes at most %d parameter%s (%s)" : "op '%s' takes no argument",
                     sp->name, sp->nparams, sp->nparams == 1 ? "" : "s", sp->usage);
            return -1;
        }
        shown(text, sizeof(text), v, vn > 20 ? 20 : vn);
        if ((why = parse_decimal(v, vn, sp->p[given].negative, &vals[given], &micros[given]))) {
            if (!strcmp(why, "negative"))
                snprintf(err, errlen, "%s: '%s' must not be negative", sp->usage, text);
            else
                snprintf(err, errlen, "%s: '%s' is not %s (%s)", sp->usage, text,
                         sp->p[given].integer ? "a whole number" : "a plain decimal number with at most 6 decimals", why);
            return -1;
        }
        if (sp->p[given].integer && micros[given] % 1000000) {
            snprintf(err, errlen, "%s: '%s' is not a whole number", sp->usage, text);
            return -1;
        }
        if ((sp->kind == TILER_OP_ROTATE && vals[0] != 90 && vals[0] != 180 && vals[0] != 270)
            || (sp->kind == TILER_OP_DOWNSCALE && vals[0] != 2 && vals[0] != 4 && vals[0] != 8)) {
            snprintf(err, errlen, "%s: %s is not one of those", sp->usage, text);
            return -1;
        }
        if ((sp->p[given].lo_open ? !(vals[given] > sp->p[given].lo) : vals[given] < sp->p[given].lo)
            || vals[given] > sp->p[given].hi) {
            snprintf(err, errlen, "%s: %s is outside %c%g, %g]", sp->usage, text, sp->p[given].lo_open ? '(' : '[',
                     sp->p[given].lo, sp->p[given].hi);
            return -1;
        }
        given++;
        v = e ? e + 1 : NULL;
    }
    if (given < sp->required) {
        snprintf(err, errlen, "op '%s' needs its parameter: %s", sp->name, sp->usage);
        return -1;
    }
    for (k = given; k < sp->nparams; k++) vals[k] = sp->p[k].dflt;
    memset(op, 0, sizeof(*op));
    op->kind = sp->kind;
    for (k = given; k < sp->nparams; k++) micros[k] = (int64_t)(sp->p[k].dflt * 1000000 + 0.5);
    if (sp->kind == TILER_OP_BLUR || sp->kind == TILER_OP_SHARPEN) {
        op->sigma = vals[0];
        op->radius = tiler_blur_radius(op->sigma);
        if (sp->kind == TILER_OP_SHARPEN) { op->value = vals[1]; op->micro = micros[1]; }
    } else if (sp->nparams) {
        op->value = vals[0];
        op->micro = micros[0];
    }
    if (sp->kind == TILER_OP_EDGES) op->radius = 1;
    return 0;
}

int tiler_chain_parse(tiler_chain *chain, const char *text, int max_ops, char *err, size_t errlen)
{
    const char *p = text;
    memset(chain, 0, sizeof(*chain));
    if (max_ops <= 0 || max_ops > TILER_MAX_OPS) max_ops = TILER_MAX_OPS;
    if (!text || !*text) {
        snprintf(err, errlen, "ops is empty; give a comma-separated list such as grayscale,blur:3");
        return -1;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0) {
            snprintf(err, errlen, "ops has an empty item");
            return -1;
        }
        if (chain->count >= max_ops) {
            snprintf(err, errlen, "ops has more than %d items", max_ops);
            return -1;
        }
        if (parse_item(&chain->ops[chain->count], p, n, err, errlen) < 0) return -1;
        chain->count++;
        if (!end) break;
        p = end + 1;
    }
    if (tiler_chain_scale(chain) > TILER_MAX_SCALE) {
        snprintf(err, errlen, "ops downscale by %u in all, more than %d", tiler_chain_scale(chain), TILER_MAX_SCALE);
        return -1;
    }
    return 0;
}

/* A parameter in plain decimals, never an exponent (the parser takes none),
 * with trailing zeros dropped. */
/* An exact value in millionths, the same way. */
static const char *exact(char num[48], int64_t micro)
{
    int64_t a = micro < 0 ? -micro : micro;
    size_t k = (size_t)snprintf(num, 48, "%s%lld.%06lld", micro < 0 ? "-" : "", (long long)(a / 1000000),
                                (long long)(a % 1000000));
    while (k > 1 && num[k - 1] == '0') num[--k] = '\0';
    if (k > 1 && num[k - 1] == '.') num[--k] = '\0';
    if (!strcmp(num, "-0")) strcpy(num, "0");
    return num;
}

static const char *decimal(char num[48], double v)
{
    int w = snprintf(num, 48, "%.*f", TILER_SIGMA_DECIMALS, v);
    size_t k = w < 0 ? 0 : w > 47 ? 47 : (size_t)w;
    while (k > 1 && num[k - 1] == '0') num[--k] = '\0';
    if (k > 1 && num[k - 1] == '.') num[--k] = '\0';
    if (!strcmp(num, "-0")) strcpy(num, "0");
    return num;
}

int tiler_chain_format(const tiler_chain *chain, char *buf, size_t len)
{
    size_t used = 0;
    int i, n;
    char a[48], b[48];
    if (len) buf[0] = '\0';
    for (i = 0; i < chain->count; i++) {
        const tiler_op *op = &chain->ops[i];
        const char *sep = i ? "," : "";
        switch (op->kind) {
        case TILER_OP_GRAYSCALE:  n = snprintf(buf + used, len - used, "%sgrayscale", sep); break;
        case TILER_OP_INVERT:     n = snprintf(buf + used, len - used, "%sinvert", sep); break;
        case TILER_OP_EDGES:      n = snprintf(buf + used, len - used, "%sedges", sep); break;
        case TILER_OP_BLUR:       n = snprintf(buf + used, len - used, "%sblur:%s", sep, decimal(a, op->sigma)); break;
        case TILER_OP_SHARPEN:
            n = snprintf(buf + used, len - used, "%ssharpen:%s:%s", sep, decimal(a, op->sigma), exact(b, op->micro));
            break;
        case TILER_OP_BRIGHTNESS: n = snprintf(buf + used, len - used, "%sbrightness:%s", sep, exact(a, op->micro)); break;
        case TILER_OP_CONTRAST:   n = snprintf(buf + used, len - used, "%scontrast:%s", sep, exact(a, op->micro)); break;
        case TILER_OP_GAMMA:      n = snprintf(buf + used, len - used, "%sgamma:%s", sep, exact(a, op->micro)); break;
        case TILER_OP_THRESHOLD:  n = snprintf(buf + used, len - used, "%sthreshold:%s", sep, exact(a, op->micro)); break;
        case TILER_OP_FLIP:
            n = snprintf(buf + used, len - used, "%sflip:%s", sep, op->value == TILER_FLIP_H ? "h" : "v");
            break;
        case TILER_OP_ROTATE:     n = snprintf(buf + used, len - used, "%srotate:%d", sep, (int)op->value); break;
        case TILER_OP_DOWNSCALE:  n = snprintf(buf + used, len - used, "%sdownscale:%d", sep, (int)op->value); break;
        default: return -1;
        }
        if (n < 0 || (size_t)n >= len - used) return -1;
        used += (size_t)n;
    }
    return (int)used;
}

int tiler_chain_halo(const tiler_chain *chain)
{
    int i, halo = 0;
    /* From the last op back: what an op needs around its output, it needs
     * K times over in a downscale's input. */
    for (i = chain->count - 1; i >= 0; i--) {
        if (chain->ops[i].kind == TILER_OP_DOWNSCALE) halo *= (int)chain->ops[i].value;
        halo += chain->ops[i].radius;
    }
    return halo;
}

int tiler_chain_moves(const tiler_chain *chain)
{
    int i;
    for (i = 0; i < chain->count; i++)
        if (chain->ops[i].kind >= TILER_OP_FLIP) return 1;
    return 0;
}

uint32_t tiler_chain_scale(const tiler_chain *chain)
{
    uint64_t k = 1;
    int i;
    /* Saturates: 16 downscale:8 would not fit. */
    for (i = 0; i < chain->count && k <= UINT32_MAX; i++)
        if (chain->ops[i].kind == TILER_OP_DOWNSCALE) k *= (uint64_t)chain->ops[i].value;
    return k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
}

int tiler_chain_gray(const tiler_chain *chain)
{
    int i;
    for (i = 0; i < chain->count; i++) {
        tiler_op_kind k = chain->ops[i].kind;
        if (k == TILER_OP_GRAYSCALE || k == TILER_OP_EDGES || k == TILER_OP_THRESHOLD) return 1;
    }
    return 0;
}
