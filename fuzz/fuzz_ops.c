/* libFuzzer target: the op chain parser and its canonical form. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "tiler_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    char *text = malloc(len + 1), err[256], canon[1024];
    tiler_chain c, again;
    memcpy(text, buf, len);
    text[len] = '\0';
    if (tiler_chain_parse(&c, text, TILER_MAX_OPS, err, sizeof(err)) == 0) {
        /* The canonical form parses back to the same chain. */
        if (tiler_chain_format(&c, canon, sizeof(canon)) < 0) abort();
        if (tiler_chain_parse(&again, canon, TILER_MAX_OPS, err, sizeof(err)) < 0) abort();
        if (again.count != c.count || tiler_chain_halo(&again) != tiler_chain_halo(&c)) abort();
        for (int i = 0; i < c.count; i++)
            if (again.ops[i].kind != c.ops[i].kind || again.ops[i].sigma != c.ops[i].sigma
                || again.ops[i].value != c.ops[i].value || again.ops[i].radius != c.ops[i].radius)
                abort();
        /* ...and is its own canonical form, short enough for a task. */
        {
            char twice[1024];
            if (tiler_chain_format(&again, twice, sizeof(twice)) < 0 || strcmp(twice, canon) || strlen(canon) > 512) abort();
        }
    }
    free(text);
    return 0;
}
