/* Dropping root for the daemons (--user). */
#ifndef TILER_PRIVS_H
#define TILER_PRIVS_H

#include <stddef.h>

/* As root: switch to user (its groups, gid, uid) for good. As another user:
 * fine when it is that user already, an error otherwise. 0 or -1 with why. */
int tiler_drop_privileges(const char *user, char *err, size_t errlen);
/* The directory that will hold path (its dirname), made when missing, with
 * its parents (mode 0755), the last one owned by user when user is set and
 * we are root, so that the daemon can write there after dropping root. An
 * existing directory is left as it is. 0 or -1 with why. */
int tiler_make_dir_for(const char *path, const char *user, char *err, size_t errlen);

#endif
