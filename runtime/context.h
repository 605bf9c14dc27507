/* context.h — internal view of the context tree (context.c) for tests and
 * diagnostics; not installed.  Nothing here is part of the public API. */
#ifndef GORT_CONTEXT_H
#define GORT_CONTEXT_H

#include "internal.h"

/* Number of cancelable descendants registered directly with ctx (its
 * children, and those of value contexts between them), 0 for background
 * and value contexts.  A snapshot under ctx's lock. */
GORT__HIDDEN size_t gort__ctx_nchildren(gort_ctx *ctx);

/* Current reference count of ctx (0 for background): a snapshot. */
GORT__HIDDEN int64_t gort__ctx_refs(gort_ctx *ctx);

#endif /* GORT_CONTEXT_H */
