#include "mod_tiler_slots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>

static apr_status_t close_slot(void *fd)
{
    close((int)(intptr_t)fd);   /* and the lock goes with it */
    return APR_SUCCESS;
}

int tiler_decode_slot_take(request_rec *r, const char *spool_dir, int n)
{
    return tiler_slot_take(r, r->pool, spool_dir, "", n);
}

int tiler_slot_take(request_rec *r, apr_pool_t *hold, const char *spool_dir, const char *set, int n)
{
    const char *dir = apr_pstrcat(r->pool, spool_dir, "/slots", NULL);
    int i;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, APLOGNO(30483) "cannot create the decode slot folder %s", dir);
        return -2;
    }
    /* flock, not fcntl locks: those are the process's, so threads of one
     * child would share them; each open here is a lock of its own. */
    for (i = 0; i < n; i++) {
        const char *path = apr_psprintf(r->pool, "%s/%s%d", dir, set, i);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, APLOGNO(30484) "cannot open the decode slot %s", path);
            return -2;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            apr_pool_cleanup_register(hold, (void *)(intptr_t)fd, close_slot, apr_pool_cleanup_null);
            return 0;
        }
        {
            int e = errno;
            close(fd);
            if (e != EWOULDBLOCK) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, e, r, APLOGNO(30485) "cannot lock the decode slot %s", path);
                return -2;
            }
        }
    }
    return -1;
}
