/* Daemon config files: "key = value" lines, '#' comments. Keys are the long
 * option names; "kafka.PROP = VALUE" passes PROP through to librdkafka. */
#ifndef TILER_CONF_H
#define TILER_CONF_H

#include <stddef.h>

typedef int (*tiler_conf_cb)(void *ctx, const char *key, const char *value, char *err, size_t errlen);

/* Calls cb for each setting. A file that its group or others may write is
 * refused. 0, or -1 with "path:line: reason" in err. warn is set (else
 * empty) when a Kafka password or secret sits in a world-readable file. */
int tiler_conf_read(const char *path, tiler_conf_cb cb, void *ctx, char *err, size_t errlen, char *warn, size_t warnlen);

#endif
