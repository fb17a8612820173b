// The upstream services of the tunnel benches, run as a child process (so the measuring
// side and the services do not share one event loop): a sink that counts bytes and answers
// the count when the sender half-closes, and an echo. Prints `{"sink":N,"echo":N}`.
const sink = Bun.listen<{ n: number }>({
  hostname: "127.0.0.1",
  port: 0,
  allowHalfOpen: true,
  data: { n: 0 },
  socket: {
    open(s) {
      s.data = { n: 0 };
    },
    data(s, chunk) {
      s.data.n += chunk.length;
    },
    end(s) {
      s.end(`${s.data.n}\n`);
    },
  },
});
const echo = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(s, chunk) {
      s.write(chunk);
    },
  },
});
console.log(JSON.stringify({ sink: sink.port, echo: echo.port }));
await new Promise(() => {});
export {};
