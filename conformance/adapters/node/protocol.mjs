// The subprocess protocol's loop (docs/subprocess-protocol.md), shared by the npm adapters: one
// JSON request per line on stdin, one answer per line on stdout, in order; stdin closing ends
// the process. `answer(serverName)` resolves to {status} | {plan} | {error}; `write` is the
// adapter's handle on the real stdout (bound before any library can redirect console output).
import { createInterface } from 'node:readline';

export function serve(answer, write) {
  let queue = Promise.resolve();
  createInterface({ input: process.stdin, crlfDelay: Infinity })
    .on('line', (line) => {
      queue = queue.then(async () => {
        let id;
        try {
          const request = JSON.parse(line);
          id = request.id;
          write(`${JSON.stringify({ id, ...(await answer(request.fetch)) })}\n`);
        } catch (e) {
          write(`${JSON.stringify({ id, error: `adapter: ${e.message}` })}\n`);
        }
      });
    })
    .on('close', () => queue.finally(() => process.exit(0)));
}
