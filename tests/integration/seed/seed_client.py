# The Python client from the field note sensorcast grew from (shared/seeds/000_ceb3f96c89d84a5d.txt), verbatim.
# tests/integration/test_seed_clients.py runs it against a gateway on the default port 8765.
import asyncio
import websockets

async def hello():
    uri = "ws://localhost:8765"
    async with websockets.connect(uri) as websocket:
        await websocket.send("Hello, WebSocket!")
        response = await websocket.recv()
        print(f"Received: {response}")

asyncio.run(hello())
