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

/* Strict decimal: digits with at most one '.' and at most 6 decimals; no
 * sign, exponent, hex, inf or nan. Six decimals keep the canonical form
 * (which the workers parse again) exactly the number the module used. */
static int parse_sigma(const char *s, size_t n, double *out)
{
    char buf[32];
    size_t i;
    int dots = 0, digits = 0, decimals = 0;
    if (n == 0 || n >= sizeof(buf)) return -1;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') { if (++dots > 1) return -1; }
        else if (s[i] >= '0' && s[i] <= '9') { digits++; if (dots) decimals++; }
        else return -1;
    }
    if (decimals > TILER_SIGMA_DECIMALS) return -1;
    if (!digits) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *out = strtod(buf, NULL);
    return errno ? -1 : 0;
}

static int parse_item(tiler_op *op, const char *s, size_t n, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;

    if (name_len == 9 && !memcmp(s, "grayscale", 9) && !colon) { op->kind = TILER_OP_GRAYSCALE; return 0; }
    if (name_len == 6 && !memcmp(s, "invert", 6) && !colon) { op->kind = TILER_OP_INVERT; return 0; }
    if (name_len == 4 && !memcmp(s, "blur", 4)) {
        double sigma = TILER_DEFAULT_SIGMA;
        if (colon) {
            const char *v = colon + 1;
            size_t vn = n - name_len - 1;
            if (parse_sigma(v, vn, &sigma) < 0) {
                snprintf(err, errlen, "blur sigma '%.*s' is not a decimal number with at most %d decimals",
                         (int)(vn > 20 ? 20 : vn), v, TILER_SIGMA_DECIMALS);
                return -1;
            }
            if (!(sigma > 0.0) || sigma > TILER_MAX_SIGMA) {
                snprintf(err, errlen, "blur sigma %g is outside (0, %g]", sigma, TILER_MAX_SIGMA);
                return -1;
            }
        }
        op->kind = TILER_OP_BLUR;
        op->sigma = sigma;
        op->radius = tiler_blur_radius(sigma);
        return 0;
    }
    if (name_len == 9 && !memcmp(s, "grayscale", 9)) {
        snprintf(err, errlen, "op 'grayscale' takes no argument");
        return -1;
    }
    if (name_len == 6 && !memcmp(s, "invert", 6)) {
        snprintf(err, errlen, "op 'invert' takes no argument");
        return -1;
    }
    {
        /* Name the unknown op, but print only safe characters of it. */
        char shown[33];
        size_t i, k = 0;
        for (i = 0; i < name_len && k < sizeof(shown) - 1; i++)
            shown[k++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
        shown[k] = '\0';
        snprintf(err, errlen, "unknown op '%s' (known: grayscale, invert, blur[:SIGMA])", shown);
    }
    return -1;
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
    return 0;
}

int tiler_chain_format(const tiler_chain *chain, char *buf, size_t len)
{
    size_t used = 0;
    int i, n;
    if (len) buf[0] = '\0';
    for (i = 0; i < chain->count; i++) {
        const tiler_op *op = &chain->ops[i];
        const char *sep = i ? "," : "";
        switch (op->kind) {
        case TILER_OP_GRAYSCALE: n = snprintf(buf + used, len - used, "%sgrayscale", sep); break;
        case TILER_OP_INVERT:    n = snprintf(buf + used, len - used, "%sinvert", sep); break;
        case TILER_OP_BLUR: {
            /* Plain decimals, never an exponent: the parser takes no exponents. */
            char num[48];
            size_t k = (size_t)snprintf(num, sizeof(num), "%.*f", TILER_SIGMA_DECIMALS, op->sigma);
            while (k > 1 && num[k - 1] == '0') num[--k] = '\0';
            if (k > 1 && num[k - 1] == '.') num[--k] = '\0';
            n = snprintf(buf + used, len - used, "%sblur:%s", sep, num);
            break;
        }
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
    for (i = 0; i < chain->count; i++)
        if (chain->ops[i].kind == TILER_OP_BLUR) halo += chain->ops[i].radius;
    return halo;
}
