// JavaScript WebSocket Client in Browser (from the field note, verbatim)

const socket = new WebSocket("ws://localhost:8765");

socket.onopen = () => {
  console.log("Connected to server");
  socket.send("Hello from browser!");
};

socket.onmessage = (event) => {
  console.log("Received:", event.data);
};

socket.onclose = () => {
  console.log("Connection closed");
};
