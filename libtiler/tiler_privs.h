/* Dropping root for the daemons (--user). */
#ifndef TILER_PRIVS_H
#define TILER_PRIVS_H

#include <stddef.h>

/* As root: switch to user (its groups, gid, uid) for good. As another user:
 * fine when it is that user already, an error otherwise. 0 or -1 with why. */
int tiler_drop_privileges(const char *user, char *err, size_t errlen);

#endif
