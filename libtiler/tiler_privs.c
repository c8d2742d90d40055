#include "tiler_privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

int tiler_make_dir_for(const char *path, const char *user, char *err, size_t errlen)
{
    char dir[4096], *p;
    struct stat st;
    struct passwd *pw = NULL;
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) { snprintf(err, errlen, "%s: path too long", path); return -1; }
    if (!(p = strrchr(dir, '/')) || p == dir) return 0;   /* the current directory, or / */
    *p = '\0';
    if (stat(dir, &st) == 0) return 0;
    if (user && geteuid() == 0 && !(pw = getpwnam(user))) { snprintf(err, errlen, "--user %s: no such user", user); return -1; }
    for (p = dir + 1; ; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot make directory %s: %s", dir, strerror(errno));
            return -1;
        }
        *p = c;
        if (!c) break;
    }
    if (pw && chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
        snprintf(err, errlen, "cannot give directory %s to %s: %s", dir, user, strerror(errno));
        return -1;
    }
    return 0;
}
