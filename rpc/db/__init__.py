"""PostgreSQL: the call path (role, timeouts, caller, budget; pipelines), the embedded cluster,
migrations, the demo data. Imports rpc.core only."""
