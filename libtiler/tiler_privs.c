#include "tiler_privs.h"

#include <errno.h>
#include <fcntl.h>
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

/* As root: gives directory dir, which we have just made, to pw. Through a
 * descriptor opened without following a symlink, and only when it is a
 * directory of ours: whatever was put in its place since mkdir (a symlink
 * to /etc, say) is never chowned. */
static int give_dir(const char *dir, const struct passwd *pw, const char *user, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        snprintf(err, errlen, "directory %s changed while it was being made", dir);
        if (fd >= 0) close(fd);
        return -1;
    }
    if (fchown(fd, pw->pw_uid, pw->pw_gid) < 0) {
        snprintf(err, errlen, "cannot give directory %s to %s: %s", dir, user, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int tiler_make_dir_for(const char *path, const char *user, char *err, size_t errlen)
{
    char dir[4096], *p;
    struct passwd *pw = NULL;
    int made = 0;
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) { snprintf(err, errlen, "%s: path too long", path); return -1; }
    if (!(p = strrchr(dir, '/')) || p == dir) return 0;   /* the current directory, or / */
    *p = '\0';
    if (user && geteuid() == 0 && !(pw = getpwnam(user))) { snprintf(err, errlen, "--user %s: no such user", user); return -1; }
    /* No stat first: what exists (EEXIST, whatever it is) is left as it is. */
    for (p = dir + 1; ; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        made = mkdir(dir, 0755) == 0;
        if (!made && errno != EEXIST) {
            snprintf(err, errlen, "cannot make directory %s: %s", dir, strerror(errno));
            return -1;
        }
        *p = c;
        if (!c) break;
    }
    return made && pw ? give_dir(dir, pw, user, err, errlen) : 0;
}
