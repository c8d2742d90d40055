/* The daemons' options and config file: one parser, one behaviour. */
#include "tiler_daemon.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiler_conf.h"
#include "tiler_defaults.h"
#include "tiler_log.h"

static const tiler_option common[] = {
    { "config", 'c', 1, TILER_OPT_CMDLINE },
    { "brokers", 'b', 1, 0 },
    { "kafka", 'X', 1, TILER_OPT_CMDLINE },   /* in the file: kafka.PROP = VALUE */
    { "foreground", 'f', 0, 0 },
    { "pidfile", 0, 1, 0 },
    { "user", 0, 1, 0 },
    { "log-level", 0, 1, 0 },
    { "help", 'h', 0, 0 },
    { "version", 'V', 0, 0 },
    { NULL, 0, 0, 0 }
};

/* Copies of the config file's values (and of Kafka property names split
 * off "-X PROP=VALUE"): they live as long as the process, as argv does, so
 * that nobody needs to copy or free a setting. */
static char **kept;
static size_t nkept;

static const char *keep(const char *s, size_t len)
{
    char *copy = strndup(s, len), **more = copy ? realloc(kept, (nkept + 1) * sizeof(*kept)) : NULL;
    if (!more) { free(copy); return NULL; }
    kept = more;
    kept[nkept++] = copy;
    return copy;
}

/* One option met in argv, applied after the config file. */
typedef struct {
    const tiler_option *opt;
    const char *values[2];
} given;

static int fail(const tiler_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const tiler_daemon *d, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", d->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static const tiler_option *find_in(const tiler_option *t, const char *name, size_t len, int short_name)
{
    for (; t->name; t++)
        if (short_name ? t->short_name == short_name : strlen(t->name) == len && !strncmp(t->name, name, len))
            return t;
    return NULL;
}

static const tiler_option *find(const tiler_daemon *d, const char *name, size_t len, int short_name)
{
    const tiler_option *o = find_in(common, name, len, short_name);
    return o ? o : find_in(d->options, name, len, short_name);
}

static int is_common(const tiler_option *o)
{
    return o >= common && o < common + sizeof(common) / sizeof(common[0]);
}

static int add_prop(tiler_daemon *d, const char *key, size_t keylen, const char *value, char *err, size_t errlen)
{
    if (!keylen) { snprintf(err, errlen, "a Kafka property wants PROP=VALUE"); return -1; }
    if (d->nprops >= TILER_DAEMON_MAX_PROPS) {
        snprintf(err, errlen, "more than %d Kafka properties", TILER_DAEMON_MAX_PROPS);
        return -1;
    }
    if (!(d->props[d->nprops].key = keep(key, keylen))) { snprintf(err, errlen, "out of memory"); return -1; }
    d->props[d->nprops].value = value;
    d->nprops++;
    return 0;
}

/* One setting, from the file or a flag. */
static int apply(tiler_daemon *d, const tiler_option *o, const char *const *v, char *err, size_t errlen)
{
    if (o->args && !*v[0]) { snprintf(err, errlen, "%s is empty", o->name); return -1; }
    if (!is_common(o)) return d->set(d->ctx, o->name, v, err, errlen);
    if (!strcmp(o->name, "brokers")) d->brokers = v[0];
    else if (!strcmp(o->name, "kafka")) {
        const char *eq = strchr(v[0], '=');
        if (!eq) { snprintf(err, errlen, "--kafka wants PROP=VALUE, got '%s'", v[0]); return -1; }
        return add_prop(d, v[0], (size_t)(eq - v[0]), eq + 1, err, errlen);
    }
    else if (!strcmp(o->name, "foreground")) d->foreground = 1;
    else if (!strcmp(o->name, "pidfile")) d->pidfile = v[0];
    else if (!strcmp(o->name, "user")) d->user = v[0];
    else if (!strcmp(o->name, "log-level")) {
        if ((d->log_level = tiler_log_level_parse(v[0])) < 0) {
            snprintf(err, errlen, "log-level '%s' is not error, warn, info or debug", v[0]);
            return -1;
        }
    }
    return 0;
}

static int conf_cb(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
    tiler_daemon *d = ctx;
    const tiler_option *o;
    const char *v[2] = { keep(value, strlen(value)), NULL };
    if (!v[0]) { snprintf(err, errlen, "out of memory"); return -1; }
    value = v[0];
    if (!strncmp(key, "kafka.", 6)) {
        if (!*value) { snprintf(err, errlen, "%s is empty", key); return -1; }
        return add_prop(d, key + 6, strlen(key + 6), value, err, errlen);
    }
    o = find(d, key, strlen(key), 0);
    if (!o || o->args != 1 || (o->flags & TILER_OPT_CMDLINE)) {
        snprintf(err, errlen, "unknown setting '%s'", key);
        return -1;
    }
    return apply(d, o, v, err, errlen);
}

/* Reads argv[*i] (and its values) into g. 0, 1 for --help/--version done,
 * -1 after the message. */
static int scan(tiler_daemon *d, int argc, char **argv, int *i, given *g)
{
    const char *arg = argv[*i], *attached = NULL;
    const tiler_option *o = NULL;
    int k;

    if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        o = find(d, arg + 2, len, 0);
        if (eq) attached = eq + 1;
    } else if (arg[0] == '-' && arg[1] && arg[1] != '-') {
        o = find(d, NULL, 0, (unsigned char)arg[1]);
        if (arg[2]) attached = arg + 2;
        if (o && !o->args && attached) o = NULL;   /* "-fx": no bundling */
    } else {
        return fail(d, "unexpected argument '%s'; see %s --help", arg, d->prog);
    }
    if (!o) {
        size_t len = strcspn(arg, "=");
        return fail(d, "unknown option '%.*s'; see %s --help", (int)len, arg, d->prog);
    }
    if (!o->args && attached) return fail(d, "option --%s takes no value", o->name);
    g->opt = o;
    for (k = 0; k < o->args; k++) {
        if (k == 0 && attached) { g->values[0] = attached; continue; }
        if (*i + 1 >= argc)
            return fail(d, "option --%s wants %s", o->name, o->args == 1 ? "a value" : "two values");
        g->values[k] = argv[++*i];
    }
    if (!strcmp(o->name, "help")) { fputs(d->usage, stdout); return 1; }
    if (!strcmp(o->name, "version")) {
        printf("%s %s%s%s%s\n", d->prog, TILER_VERSION_STRING, d->version_note ? " (" : "",
               d->version_note ? d->version_note : "", d->version_note ? ")" : "");
        return 1;
    }
    if (!strcmp(o->name, "config")) {
        if (d->config) return fail(d, "option --config given twice");
        d->config = g->values[0];
    }
    return 0;
}

int tiler_daemon_parse(tiler_daemon *d, int argc, char **argv)
{
    char err[512];
    given *gs = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*gs));
    int i, n = 0, rc = 0;

    if (!gs) return fail(d, "out of memory");
    d->config = d->pidfile = d->user = NULL;
    d->brokers = TILER_DEFAULT_BROKERS;
    d->foreground = 0;
    d->log_level = TILER_LOG_INFO;
    d->nprops = 0;
    /* First every flag is checked and the config file found, so that the
     * file is read before any flag, wherever --config stands. */
    for (i = 1; i < argc && !rc; i++)
        if (!(rc = scan(d, argc, argv, &i, &gs[n]))) n++;
    if (!rc && d->config) {
        char warn[512];
        if (tiler_conf_read(d->config, conf_cb, d, err, sizeof(err), warn, sizeof(warn)) < 0) rc = fail(d, "%s", err);
        else if (warn[0]) fprintf(stderr, "%s: warning: %s\n", d->prog, warn);
    }
    for (i = 0; i < n && !rc; i++) {
        if (!strcmp(gs[i].opt->name, "config")) continue;
        if (apply(d, gs[i].opt, gs[i].values, err, sizeof(err)) < 0) rc = fail(d, "%s", err);
    }
    free(gs);
    return rc;
}
