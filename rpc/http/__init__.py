"""The server: the service every transport calls through, the aiohttp app, its endpoints (JSON-RPC,
files, exports, certificates, the Stripe webhook, WebSocket) and its periodic rounds."""
