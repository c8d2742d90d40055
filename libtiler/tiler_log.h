/* Daemon logging: one line per event on stderr, with a level. Under systemd
 * (JOURNAL_STREAM set) lines carry <N> priority prefixes for journald. */
#ifndef TILER_LOG_H
#define TILER_LOG_H

enum { TILER_LOG_ERROR = 3, TILER_LOG_WARN = 4, TILER_LOG_INFO = 6, TILER_LOG_DEBUG = 7 };

void tiler_log_init(const char *program, int max_level);
/* "error" | "warn" | "info" | "debug" -> level, or -1 */
int tiler_log_level_parse(const char *name);
void tiler_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
