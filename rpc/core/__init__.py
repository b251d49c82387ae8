"""The protocol and the contract: JSON-RPC framing, params and shapes, errors, settings, tokens, the
OpenRPC document. Imports nothing else of rpc."""
