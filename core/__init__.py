"""The plumbing every app shares: API defaults and the one error shape, logging, metrics,
middleware, throttling, ids, database helpers, sign-in security, health checks, JSON bounds,
masking of secrets, timestamps, outage answers, and the adapters that hold what we need of
library internals (channel_layer_adapter, redis_client).

Not project configuration (that is `anpr/`) and nothing of one app (that lives in the app).
"""
