#include "tiler_privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tiler_drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) { snprintf(err, errlen, "--user %s: no such user", user); return -1; }
    if (geteuid() != 0) {
        if (geteuid() == pw->pw_uid) return 0;
        snprintf(err, errlen, "--user %s: only root can switch users", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "--user %s: %s", user, strerror(errno));
        return -1;
    }
    /* Make sure there is no way back. */
    if (setuid(0) == 0) { snprintf(err, errlen, "--user %s: root could be regained", user); return -1; }
    return 0;
}
