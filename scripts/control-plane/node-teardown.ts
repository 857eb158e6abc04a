// `node scripts/control-plane/node-teardown.ts <stateDir>`: stops the plane and node recorded in
// stateDir and puts the host back. The exit hook of a process that owns a node plane runs it
// synchronously (as a child), because putting a host back is asynchronous work.
import { stopRecordedPlane } from './control-plane.ts';

const stateDir = process.argv[2];
if (stateDir === undefined) {
  console.error('usage: node scripts/control-plane/node-teardown.ts <stateDir>');
  process.exit(2);
}
try {
  await stopRecordedPlane(stateDir);
  process.exit(0);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
