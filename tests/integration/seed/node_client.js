// A Node.js client with the `ws` package (the field note's Node example is a server on the same library):
// connect to the gateway on the default port, send a text message, print the first binary frame's size and
// its decoded type. Exits 0 on success.
const WebSocket = require('ws');
const { decode } = require('@msgpack/msgpack');

const socket = new WebSocket(process.argv[2] || 'ws://localhost:8765');

socket.on('open', () => {
  console.log('Connected to server');
  socket.send('Hello from node!');
});

let done = false;
socket.on('message', (message, isBinary) => {
  if (done) return;
  done = true;
  const frame = decode(message);
  console.log(`Received: binary=${isBinary} bytes=${message.length} t=${frame.t}`);
  socket.close();
});

socket.on('close', () => {
  console.log('Connection closed');
  process.exit(0);
});

socket.on('error', (err) => {
  console.error(err.message);
  process.exit(1);
});
