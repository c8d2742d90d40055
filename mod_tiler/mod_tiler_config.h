/* Directives: one validated setter per kind of value. */
#ifndef MOD_TILER_CONFIG_H
#define MOD_TILER_CONFIG_H

#include "mod_tiler.h"

extern const command_rec tiler_directives[];

void *tiler_create_srv_conf(apr_pool_t *p, server_rec *s);
void *tiler_merge_srv_conf(apr_pool_t *p, void *base, void *add);

/* Applies the defaults and checks what can only be checked as a whole
 * (Kafka properties). NULL, or a message for a startup failure. */
const char *tiler_config_finish(apr_pool_t *p, server_rec *s, tiler_srv_conf *c);

/* NULL when virtual host vs sets nothing that only the main server may set
 * (the Kafka, spool and topic directives...), else a message naming the
 * directive and the virtual host. */
const char *tiler_config_check_vhost(apr_pool_t *p, server_rec *main_s, server_rec *vs);

#endif
