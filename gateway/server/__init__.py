"""The network face: WebSocket connections, plain HTTP, listening sockets, and fan-out to every client."""
