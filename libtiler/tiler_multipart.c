#include "tiler_multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { S_PREAMBLE, S_AFTER_DELIM, S_AFTER_DELIM_CR, S_AFTER_DELIM_DASH, S_HEADERS, S_DATA, S_EPILOGUE, S_ERROR } state;

struct tiler_multipart {
    tiler_mp_limits lim;
    tiler_mp_callbacks cb;
    void *ctx;
    state st;
    /* "\r\n--boundary", matched with KMP so that a delimiter split over
     * chunks, or preceded by a partial look-alike, is still found. */
    char delim[TILER_MP_MAX_BOUNDARY + 5];
    size_t dlen, match;
    size_t fail[TILER_MP_MAX_BOUNDARY + 5];
    char *hdr;
    size_t hdr_len;
    int parts;
    int in_field;               /* current part has no filename */
    size_t field_len;
    char part_name[64];         /* for messages */
    uint64_t total;
    char error[160];
};

static tiler_mp_status fail(tiler_multipart *mp, tiler_mp_status code, const char *msg)
{
    mp->st = S_ERROR;
    snprintf(mp->error, sizeof(mp->error), "%s", msg);
    return code;
}

const char *tiler_mp_error(const tiler_multipart *mp)
{
    return mp->error[0] ? mp->error : "no error";
}

/* RFC 2046: 1-70 characters from a restricted set; quoted values allowed. */
static int boundary_char(int c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

/* The next parameter of a header value's list, *p just past the value's
 * first word: OWS ";" OWS key "=" (token / quoted-string) (RFC 7231 3.1.1.1,
 * RFC 7578 4.2). A quoted value may hold ';' and '"' (backslash-escaped),
 * so a split on ';' would misread it. 1 with the key and the value
 * unquoted, 0 at the end, -1 when malformed or too long. A stray ';' is
 * skipped. */
static int next_param(const char **p, char *key, size_t keylen, char *val, size_t vallen)
{
    const char *q = *p;
    size_t n = 0;
    for (;;) {
        while (*q == ' ' || *q == '\t') q++;
        if (!*q) return 0;
        if (*q != ';') return -1;
        for (q++; *q == ' ' || *q == '\t'; q++) { }
        if (*q && *q != ';') break;
    }
    for (; *q && *q != '=' && *q != ';' && *q != ' ' && *q != '\t' && *q != '"'; q++) {
        if (n + 1 >= keylen) return -1;
        key[n++] = *q;
    }
    key[n] = '\0';
    while (*q == ' ' || *q == '\t') q++;
    if (!n || *q++ != '=') return -1;
    while (*q == ' ' || *q == '\t') q++;
    n = 0;
    if (*q == '"') {
        for (q++; *q && *q != '"'; q++) {
            if (*q == '\\' && q[1]) q++;
            if (n + 1 >= vallen) return -1;
            val[n++] = *q;
        }
        if (*q++ != '"') return -1;
    } else {
        for (; *q && *q != ';' && *q != ' ' && *q != '\t' && *q != '"'; q++) {
            if (n + 1 >= vallen) return -1;
            val[n++] = *q;
        }
    }
    val[n] = '\0';
    *p = q;
    return 1;
}

int tiler_mp_boundary(const char *ct, char *out, size_t outlen)
{
    const char *p;
    char key[64], val[1024];
    size_t n, i;
    int rc;
    if (!ct || strncasecmp(ct, "multipart/form-data", 19)) return -1;
    for (p = ct + 19; (rc = next_param(&p, key, sizeof(key), val, sizeof(val))) > 0; ) {
        if (strcasecmp(key, "boundary")) continue;
        n = strlen(val);
        if (n == 0 || n > TILER_MP_MAX_BOUNDARY || n + 1 > outlen || val[n - 1] == ' ') return -1;
        for (i = 0; i < n; i++)
            if (!boundary_char((unsigned char)val[i])) return -1;
        memcpy(out, val, n + 1);
        return 0;
    }
    return -1;
}

tiler_multipart *tiler_mp_new(const char *boundary, const tiler_mp_limits *limits,
                              const tiler_mp_callbacks *cb, void *ctx)
{
    tiler_multipart *mp;
    size_t blen = strlen(boundary), i, k;
    if (blen == 0 || blen > TILER_MP_MAX_BOUNDARY) return NULL;
    if (!(mp = calloc(1, sizeof(*mp)))) return NULL;
    if (!(mp->hdr = malloc(limits->max_header_bytes + 1))) { free(mp); return NULL; }
    mp->lim = *limits;
    mp->cb = *cb;
    mp->ctx = ctx;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->dlen = blen + 4;
    /* KMP failure function */
    mp->fail[0] = 0;
    for (i = 1, k = 0; i < mp->dlen; i++) {
        while (k && mp->delim[i] != mp->delim[k]) k = mp->fail[k - 1];
        if (mp->delim[i] == mp->delim[k]) k++;
        mp->fail[i] = k;
    }
    /* The body opens with "--boundary", without the CRLF before it. */
    mp->st = S_PREAMBLE;
    mp->match = 2;
    return mp;
}

void tiler_mp_free(tiler_multipart *mp)
{
    if (!mp) return;
    free(mp->hdr);
    free(mp);
}

static tiler_mp_status emit(tiler_multipart *mp, const char *data, size_t len)
{
    if (!len || mp->st != S_DATA) return TILER_MP_OK;
    if (mp->in_field) {
        mp->field_len += len;
        if (mp->field_len > mp->lim.max_field_bytes) {
            char msg[160];
            snprintf(msg, sizeof(msg), "form field '%s' is over %zu bytes", mp->part_name, mp->lim.max_field_bytes);
            return fail(mp, TILER_MP_ERR_LIMIT, msg);
        }
    }
    if (mp->cb.part_data && mp->cb.part_data(mp->ctx, data, len) < 0)
        return fail(mp, TILER_MP_ERR_CALLBACK, "the part could not be stored");
    return TILER_MP_OK;
}

/* RFC 5987 ext-value, charset'language'pct-encoded, decoded in place
 * (the bytes are kept as sent, whatever the charset). -1 when malformed. */
static int ext_value(char *v)
{
    char *q = strchr(v, '\''), *out = v;
    if (!q || !(q = strchr(q + 1, '\''))) return -1;
    for (q++; *q; q++) {
        if (*q == '%') {
            int hi, lo;
            if (!isxdigit((unsigned char)q[1]) || !isxdigit((unsigned char)q[2])) return -1;
            hi = isdigit((unsigned char)q[1]) ? q[1] - '0' : (tolower((unsigned char)q[1]) - 'a' + 10);
            lo = isdigit((unsigned char)q[2]) ? q[2] - '0' : (tolower((unsigned char)q[2]) - 'a' + 10);
            if (!(hi | lo)) return -1;   /* no NUL in a name */
            *out++ = (char)(hi << 4 | lo);
            q += 2;
        } else {
            *out++ = *q;
        }
    }
    *out = '\0';
    return 0;
}

/* Content-Disposition: form-data; name="x"; filename="y" (or filename*,
 * RFC 7578 4.2 / RFC 5987, which wins and marks a file part as well).
 * -1 when malformed, or when a parameter comes twice. */
static int disposition(const char *v, char *name, size_t namelen, char *filename, size_t filelen, int *has_name,
                       int *has_file)
{
    const char *p = v + 9;   /* after "form-data" */
    char key[64], val[1024];
    int rc, plain = 0, ext = 0;
    *has_name = *has_file = 0;
    name[0] = filename[0] = '\0';
    while ((rc = next_param(&p, key, sizeof(key), val, sizeof(val))) > 0) {
        if (!strcasecmp(key, "name")) {
            if ((*has_name)++ || strlen(val) >= namelen) return -1;
            strcpy(name, val);
        } else if (!strcasecmp(key, "filename")) {
            if (plain++ || strlen(val) >= filelen) return -1;
            if (!ext) strcpy(filename, val);
        } else if (!strcasecmp(key, "filename*")) {
            if (ext++ || ext_value(val) < 0 || strlen(val) >= filelen) return -1;
            strcpy(filename, val);
        }
    }
    *has_file = plain || ext;
    return rc;
}

static tiler_mp_status headers_done(tiler_multipart *mp)
{
    char name[256], filename[256], ctype[128];
    int has_name = 0, has_file = 0, has_disp = 0;
    char *line, *save = NULL;
    ctype[0] = '\0';
    mp->hdr[mp->hdr_len] = '\0';
    for (line = strtok_r(mp->hdr, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(line, ':'), *v;
        if (!colon) return fail(mp, TILER_MP_ERR_SYNTAX, "a part header line has no colon");
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) { }
        if (!strcasecmp(line, "Content-Disposition")) {
            if (strncasecmp(v, "form-data", 9)) return fail(mp, TILER_MP_ERR_SYNTAX, "a part is not form-data");
            if (has_disp++ || disposition(v, name, sizeof(name), filename, sizeof(filename), &has_name, &has_file) < 0)
                return fail(mp, TILER_MP_ERR_SYNTAX, "a part's Content-Disposition is malformed");
        } else if (!strcasecmp(line, "Content-Type")) {
            snprintf(ctype, sizeof(ctype), "%s", v);
        }
    }
    if (!has_disp || !has_name) return fail(mp, TILER_MP_ERR_SYNTAX, "a part has no Content-Disposition name");
    if (++mp->parts > mp->lim.max_parts) return fail(mp, TILER_MP_ERR_LIMIT, "the form has too many parts");
    mp->in_field = !has_file;
    mp->field_len = 0;
    snprintf(mp->part_name, sizeof(mp->part_name), "%.40s", name);
    mp->st = S_DATA;
    if (mp->cb.part_begin && mp->cb.part_begin(mp->ctx, name, has_file ? filename : NULL, ctype[0] ? ctype : NULL) < 0)
        return fail(mp, TILER_MP_ERR_CALLBACK, "a part was refused");
    return TILER_MP_OK;
}

tiler_mp_status tiler_mp_feed(tiler_multipart *mp, const char *data, size_t len)
{
    size_t i = 0, run = 0;  /* data bytes [run, i) not yet emitted */
    tiler_mp_status rc;

    if (mp->st == S_ERROR) return TILER_MP_ERR_SYNTAX;
    mp->total += len;
    if (mp->total > mp->lim.max_total_bytes) return fail(mp, TILER_MP_ERR_TOO_LARGE, "the form is larger than allowed");

    while (i < len) {
        char c = data[i];
        switch (mp->st) {
        case S_PREAMBLE:
        case S_DATA:
            /* Invariant: the bytes held back are exactly delim[0..match);
             * data bytes [run, i) of this chunk are pending and come before
             * them only when match == 0. */
            if (mp->match == 0) {
                /* Fast path: no delimiter can start before the next CR. */
                const char *cr = memchr(data + i, '\r', len - i);
                i = cr ? (size_t)(cr - data) : len;
                if (i == len) break;
                c = data[i];
            }
            if (c == mp->delim[mp->match]) {
                if (mp->match == 0 && (rc = emit(mp, data + run, i - run))) return rc;
                mp->match++;
                run = ++i;
                if (mp->match == mp->dlen) {
                    if (mp->st == S_DATA && mp->cb.part_end && mp->cb.part_end(mp->ctx) < 0)
                        return fail(mp, TILER_MP_ERR_CALLBACK, "a part could not be finished");
                    mp->st = S_AFTER_DELIM;
                    mp->match = 0;
                }
            } else {
                /* Mismatch: keep the longest delimiter prefix that still
                 * ends here; the held bytes before it were data. */
                size_t k = mp->match;
                while (k && c != mp->delim[k]) k = mp->fail[k - 1];
                if (c == mp->delim[k]) {
                    if ((rc = emit(mp, mp->delim, mp->match - k))) return rc;
                    mp->match = k + 1;
                    run = ++i;
                } else {
                    if ((rc = emit(mp, mp->delim, mp->match))) return rc;
                    mp->match = 0;
                    run = i++;
                }
            }
            break;
        case S_AFTER_DELIM:
            if (c == '-') mp->st = S_AFTER_DELIM_DASH;
            else if (c == '\r') mp->st = S_AFTER_DELIM_CR;
            else if (c != ' ' && c != '\t') return fail(mp, TILER_MP_ERR_SYNTAX, "a boundary is followed by garbage (wrong boundary?)");
            i++;
            break;
        case S_AFTER_DELIM_DASH:
            if (c != '-') return fail(mp, TILER_MP_ERR_SYNTAX, "a boundary is followed by a single dash");
            mp->st = S_EPILOGUE;
            i++;
            break;
        case S_AFTER_DELIM_CR:
            if (c != '\n') return fail(mp, TILER_MP_ERR_SYNTAX, "a boundary line does not end in CRLF");
            mp->st = S_HEADERS;
            mp->hdr_len = 0;
            i++;
            break;
        case S_HEADERS:
            if (mp->hdr_len >= mp->lim.max_header_bytes)
                return fail(mp, TILER_MP_ERR_LIMIT, "a part's headers are larger than allowed");
            mp->hdr[mp->hdr_len++] = c;
            i++;
            /* A blank line ends them; a part with no headers at all is "\r\n". */
            if ((mp->hdr_len >= 4 && !memcmp(mp->hdr + mp->hdr_len - 4, "\r\n\r\n", 4))
                || (mp->hdr_len == 2 && !memcmp(mp->hdr, "\r\n", 2))) {
                if ((rc = headers_done(mp))) return rc;
                run = i;
            }
            break;
        case S_EPILOGUE:
            i = len;   /* ignored */
            break;
        case S_ERROR:
            return TILER_MP_ERR_SYNTAX;
        }
    }
    /* Pending data of this chunk goes out now; held bytes wait. */
    if (mp->st == S_DATA && mp->match == 0 && len > run && (rc = emit(mp, data + run, len - run))) return rc;
    return TILER_MP_OK;
}

tiler_mp_status tiler_mp_finish(tiler_multipart *mp)
{
    if (mp->st == S_ERROR) return TILER_MP_ERR_SYNTAX;
    if (mp->st == S_EPILOGUE) return TILER_MP_OK;
    if (mp->st == S_PREAMBLE) return fail(mp, TILER_MP_ERR_SYNTAX, "the body has no boundary line (wrong boundary?)");
    return fail(mp, TILER_MP_ERR_SYNTAX, "the body ends before its closing boundary");
}
