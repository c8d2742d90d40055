/* mod_tiler: module declaration and httpd hooks. The work is in the other
 * mod_tiler_*.c files and in libtiler/. */
#define MOD_TILER_DECLARES_MODULE
#include "mod_tiler.h"

#include <unistd.h>
#include <apr_strings.h>
#include <http_core.h>
#include <http_protocol.h>
#include <mpm_common.h>
#include <unixd.h>
#include "mod_tiler_api.h"
#include "mod_tiler_config.h"
#include "mod_tiler_metrics.h"
#include "mod_tiler_producer.h"
#include "mod_tiler_results.h"
#include "tiler_image.h"
#include "tiler_malloc.h"
#include "tiler_store.h"

/* The spool and its jobs/ and slots/ (mod_tiler_slots.h) folders must
 * belong to the user the children run as. */
static const char *prepare_spool(apr_pool_t *p, server_rec *s, tiler_srv_conf *c)
{
    const char *dirs[3];
    int i;
    dirs[0] = c->spool_dir;
    dirs[1] = apr_pstrcat(p, c->spool_dir, "/jobs", NULL);
    dirs[2] = apr_pstrcat(p, c->spool_dir, "/slots", NULL);
    for (i = 0; i < 3; i++) {
        apr_status_t rv = apr_dir_make_recursive(dirs[i], APR_FPROT_OS_DEFAULT, p);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv))
            return apr_psprintf(p, "cannot create TilerSpoolDir %s", dirs[i]);
        if (geteuid() == 0 && chown(dirs[i], ap_unixd_config.user_id, ap_unixd_config.group_id) < 0)
            return apr_psprintf(p, "cannot give %s to the httpd user", dirs[i]);
    }
    (void)s;
    return NULL;
}

/* The job store is created by the parent, then handed to the children's user. */
static const char *prepare_store(apr_pool_t *p, tiler_srv_conf *c)
{
    apr_pool_t *tmp;
    tiler_store *store;
    const char *err = NULL, *path = tiler_store_path(p, c);
    apr_pool_create(&tmp, p);
    if (tiler_store_open(&store, path, tmp, &err) < 0) {
        err = apr_pstrdup(p, err);
    }
    apr_pool_destroy(tmp);
    if (!err && geteuid() == 0) {
        const char *files[] = { "", "-wal", "-shm" };
        int i;
        for (i = 0; i < 3; i++) {
            const char *f = apr_pstrcat(p, path, files[i], NULL);
            if (chown(f, ap_unixd_config.user_id, ap_unixd_config.group_id) < 0 && i == 0)
                err = apr_psprintf(p, "cannot give %s to the httpd user", f);
        }
    }
    return err;
}

static int tiler_post_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    tiler_srv_conf *c = tiler_srv(s);
    server_rec *vs;
    const char *err;
    (void)plog; (void)ptemp;

    tiler_store_global_init();
    /* httpd runs post_config twice at startup; the first pass is a dry run. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;

    for (vs = s; vs; vs = vs->next) {
        tiler_srv_conf *vc = tiler_srv(vs);
        if ((err = tiler_config_finish(p, vs, vc))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, APLOGNO(30001) "mod_tiler: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if ((err = prepare_spool(p, s, c)) || (err = prepare_store(p, c)) || (err = tiler_results_register(p, s))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, APLOGNO(30002) "mod_tiler: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, APLOGNO(30003) "mod_tiler ready: brokers %s, spool %s, tiles %d px",
                 c->brokers, c->spool_dir, c->tile_size);
    return OK;
}

/* Runs after the virtual hosts' configs are merged, also for `httpd -t`. */
static int tiler_check_config(apr_pool_t *p, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;
    const char *err;
    (void)p; (void)plog;
    for (vs = s->next; vs; vs = vs->next)
        if ((err = tiler_config_check_vhost(ptemp, s, vs))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, APLOGNO(30020) "mod_tiler: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    return OK;
}

static void tiler_child_init(apr_pool_t *pchild, server_rec *s)
{
    /* librdkafka's threads do not survive fork: every client is made here
     * or later, never in the parent. */
    tiler_gd_errors_capture();
    /* For the whole child, httpd's own allocations too: see tiler_malloc.c
     * and README, Memory per process. */
    tiler_malloc_setup();
    tiler_producer_child_init(pchild, s);
}

static void tiler_register_hooks(apr_pool_t *p)
{
    static const char *const before_watchdog[] = { "mod_watchdog.c", NULL };
    (void)p;
    ap_hook_check_config(tiler_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(tiler_post_config, NULL, before_watchdog, APR_HOOK_MIDDLE);
    ap_hook_child_init(tiler_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(tiler_api_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(tiler_metrics_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(tiler) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    tiler_create_srv_conf,
    tiler_merge_srv_conf,
    tiler_directives,
    tiler_register_hooks,
    0  /* flags */
};
