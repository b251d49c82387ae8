"""Work beside the requests: webhook delivery, the mail outbox, file storage, the payment provider.
Imports rpc.core and rpc.db."""
