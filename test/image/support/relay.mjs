// Run inside a container's network namespace (nsenter --net): forwards each connection
// made to a Unix socket, a file the test process reaches from the host's namespace, to
// 127.0.0.1:<port> of the container. The container keeps a network namespace of its own,
// with nothing but loopback: nothing it listens on is reachable from any other address.
//
// Usage: node relay.mjs <socket path> <port>
import net from 'node:net';

const [socketPath, port] = process.argv.slice(2);
const server = net.createServer((client) => {
  const upstream = net.connect(Number(port), '127.0.0.1');
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(socketPath, () => console.log(`relaying ${socketPath} to 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
