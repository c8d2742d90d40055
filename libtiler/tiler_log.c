#include "tiler_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "tiler";
static int max_level = TILER_LOG_INFO;
static int journald;

void tiler_log_init(const char *program, int level)
{
    prog = program;
    max_level = level;
    journald = getenv("JOURNAL_STREAM") != NULL;
}

int tiler_log_level_parse(const char *name)
{
    if (!strcmp(name, "error")) return TILER_LOG_ERROR;
    if (!strcmp(name, "warn")) return TILER_LOG_WARN;
    if (!strcmp(name, "info")) return TILER_LOG_INFO;
    if (!strcmp(name, "debug")) return TILER_LOG_DEBUG;
    return -1;
}

static const char *level_name(int level)
{
    switch (level) {
    case TILER_LOG_ERROR: return "error";
    case TILER_LOG_WARN: return "warn";
    case TILER_LOG_INFO: return "info";
    default: return "debug";
    }
}

void tiler_log(int level, const char *fmt, ...)
{
    char msg[1024], *p;
    va_list ap;
    if (level > max_level) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One event, one line, whatever the message held. */
    for (p = msg; *p; p++) if (*p == '\n' || *p == '\r') *p = ' ';
    if (journald) {
        fprintf(stderr, "<%d>%s: %s\n", level, level_name(level), msg);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000), prog, (int)getpid(),
                level_name(level), msg);
    }
}
